package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Entry is one setting as `portcullis config` shows it: its effective value (secrets masked)
// beside its default.
type Entry struct {
	Setting
	// Value is the effective value, after derived defaults, as it would be written in the
	// environment; a secret is "(hidden)" and a URL's password xxxxx.
	Value string
}

// Entries lists every setting of c with its effective value, in declaration order.
func (c Config) Entries() []Entry {
	settings := Settings()
	v := reflect.ValueOf(c)
	t := v.Type()
	out := make([]Entry, 0, len(settings))
	for i := range t.NumField() {
		f := t.Field(i)
		e := Entry{Setting: settings[i], Value: format(v.Field(i))}
		switch f.Tag.Get("secret") {
		case "true":
			if e.Value != "" {
				e.Value = "(hidden)"
			}
		case "url":
			e.Value = RedactURL(e.Value)
		}
		out = append(out, e)
	}
	return out
}

// format writes a setting's value as its variable would hold it.
func format(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case time.Duration:
		return shortDuration(x)
	case Rate:
		if x.burst == 0 {
			return "0"
		}
		return fmt.Sprintf("%d/%s", x.burst, shortDuration(x.period))
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v.Interface())
}
