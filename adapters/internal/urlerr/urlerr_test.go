package urlerr_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/internal/urlerr"
)

// TestScrubKeepsThePasswordOut: neither the URL nor a bad %-escape inside the password reaches
// the error, while the error still says what is wrong.
func TestScrubKeepsThePasswordOut(t *testing.T) {
	for raw, want := range map[string]string{
		"postgres://u:hun%zzter2@h/db":     "%-escape",
		"mysql://u:hunter2@h:99999x/db":    "invalid port",
		"redis://u:hunter2@[::1/0":         "missing ']'",
		"postgres://u:hunter2@h/db%zz?x=1": "%-escape",
	} {
		_, err := url.Parse(raw)
		if err == nil {
			t.Fatalf("url.Parse(%q) succeeded", raw)
		}
		got := urlerr.Scrub(err).Error()
		if strings.Contains(got, "hunter2") || strings.Contains(got, "zz") || !strings.Contains(got, want) {
			t.Errorf("Scrub(%v) = %q, want it to say %q and quote nothing of the URL", err, got, want)
		}
	}
}
