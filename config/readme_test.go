package config_test

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/config"
)

var update = flag.Bool("update", false, "rewrite README.md's settings table from config.Settings()")

const (
	readmePath   = "../README.md"
	tableBegin   = "<!-- settings:begin -->\n"
	tableEnd     = "<!-- settings:end -->"
	readmeUpdate = "go test ./config -run TestREADME -update"
)

// settingsTable renders config.Settings() as the Markdown table README.md carries.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| setting | default | purpose |\n| --- | --- | --- |\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, s := range config.Settings() {
		def := "(unset)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		b.WriteString("| `" + s.Name + "` | " + cell(def) + " | " + cell(s.Help) + " |\n")
	}
	return b.String()
}

var tableRow = regexp.MustCompile("(?m)^\\| `(" + config.Prefix + "[A-Z0-9_]+)` \\|")

// TestREADMESettingsTable fails when README.md's table of settings misses a setting, names one
// that does not exist, or differs from config.Settings() (defaults and purposes); -update
// rewrites it.
func TestREADMESettingsTable(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i := strings.Index(readme, tableBegin)
	j := strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block for the settings table", strings.TrimSpace(tableBegin), tableEnd)
	}
	current, want := readme[i+len(tableBegin):j], settingsTable()
	if *update {
		if current != want {
			if err := os.WriteFile(readmePath, []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	listed := map[string]bool{}
	for _, m := range tableRow.FindAllStringSubmatch(current, -1) {
		listed[m[1]] = true
		if !config.Known(m[1]) {
			t.Errorf("README.md's settings table lists %s, which is not a setting", m[1])
		}
	}
	for _, s := range config.Settings() {
		if !listed[s.Name] {
			t.Errorf("README.md's settings table misses %s", s.Name)
		}
	}
	if !t.Failed() && current != want {
		t.Errorf("README.md's settings table differs from config.Settings() (a default or purpose changed); run %s", readmeUpdate)
	}
}
