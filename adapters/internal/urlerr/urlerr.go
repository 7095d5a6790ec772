// Package urlerr keeps credentials out of the errors of parsing a store's URL. Those URLs carry
// passwords (mysql://user:pass@..., redis://user:pass@...), and net/url quotes the whole URL in
// a *url.Error, and a bad %-escape (which may be part of the password) in a url.EscapeError.
// The SQL and Redis adapters both report such errors; this is their one rule for it.
package urlerr

import (
	"errors"
	"net/url"
)

// Scrub returns err without the URL a *url.Error quotes, and without the text of a bad
// %-escape; what is left says what is wrong with the URL without repeating any of it.
func Scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return errors.New("invalid %-escape in the URL")
	}
	return err
}
