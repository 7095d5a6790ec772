package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/domain"
)

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Victim@X.com", "victim@x.com", true},
		{" victim@x.com ", "victim@x.com", true},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org", true},
		{"", "", false},
		{"no-at-sign", "", false},
		{"two@@x.com", "", false},
		{"Ada <ada@x.com>", "", false},
		{"ada@localhost", "", false},
		{"ada@x.com (comment)", "", false},
		{strings.Repeat("a", 250) + "@x.com", "", false},
		{"\xff@x.com", "", false},
	}
	for _, tc := range cases {
		got, invalid := domain.NormalizeEmail(tc.in)
		var err error
		if invalid != nil {
			err = invalid
		}
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		var v *domain.ValidationError
		if err != nil && (!errors.As(err, &v) || v.Fields[0].Code != "invalid_email") {
			t.Errorf("NormalizeEmail(%q): error %v is not an invalid_email validation error", tc.in, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	cases := []struct {
		pw, code string
	}{
		{"1234567", "password_too_short"},
		{"abcdefg", "password_too_short"},
		{"🦄🦄🦄🦄🦄🦄🦄", "password_too_short"}, // 7 characters, 28 bytes
		{"🦄🦄🦄🦄🦄🦄🦄🦄", ""},
		{"with spaces in it", ""},
		{strings.Repeat("é", 128), ""},
		{strings.Repeat("é", 129), "password_too_long"},
		{"password", "password_too_common"},
		{"PASSWORD", "password_too_common"},
		{"qwertyuiop", "password_too_common"},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "invalid_password"},
	}
	for _, tc := range cases {
		code, ok := "", true
		if invalid := domain.ValidatePassword(tc.pw); invalid != nil {
			code, ok = invalid.Code, false
		}
		if ok != (tc.code == "") || code != tc.code {
			t.Errorf("ValidatePassword(%q) = %q ok=%v; want %q", tc.pw, code, ok, tc.code)
		}
	}
}

func TestCommonPasswordListIsLoaded(t *testing.T) {
	if !domain.IsCommonPassword("12345678") || !domain.IsCommonPassword("baseball") {
		t.Fatal("top entries missing from the common-password list")
	}
	if domain.IsCommonPassword("correct horse battery staple 42") {
		t.Fatal("a long passphrase is on the list")
	}
}

func TestNormalizeUsername(t *testing.T) {
	for in, ok := range map[string]bool{"ada": true, "Ada.L-9_x": true, "ab": false, strings.Repeat("a", 33): false, "a b": false, "ädä": false} {
		if _, invalid := domain.NormalizeUsername(in); (invalid == nil) != ok {
			got := invalid == nil
			t.Errorf("NormalizeUsername(%q) ok=%v, want %v", in, got, ok)
		}
	}
}

func TestSessionLive(t *testing.T) {
	s := domain.Session{}
	if s.Live(s.IdleExpiresAt) {
		t.Fatal("a zero session is live")
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", " Victim@X.com ", "\"q\"@x.com", "a@[127.0.0.1]", "<a@b.c>", "\x00@x.y", "é@ü.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, invalid := domain.NormalizeEmail(in)
		if invalid != nil {
			return
		}
		if !utf8.ValidString(got) || got != strings.ToLower(strings.TrimSpace(got)) || len(got) > domain.MaxEmailLength {
			t.Fatalf("NormalizeEmail(%q) = %q: not normalised", in, got)
		}
		again, invalid := domain.NormalizeEmail(got)
		if invalid != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, invalid)
		}
	})
}

func TestThrottledError(t *testing.T) {
	err := fmt.Errorf("login: %w", domain.Throttled(1500*time.Millisecond))
	var te *domain.ThrottledError
	if !errors.Is(err, domain.ErrThrottled) || !errors.As(err, &te) {
		t.Fatalf("%v does not match ErrThrottled / *ThrottledError", err)
	}
	if te.RetrySeconds() != 2 || te.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("retry after %v = %ds, want 1.5s = 2s", te.RetryAfter, te.RetrySeconds())
	}
	if s := domain.Throttled(-time.Second).RetrySeconds(); s != 1 {
		t.Fatalf("a negative wait gives %ds, want 1", s)
	}
	if errors.Is(domain.ErrThrottled, domain.ErrUnavailable) {
		t.Fatal("ErrThrottled matches ErrUnavailable")
	}
}

// The domain's syntactic check refuses invisible and text-direction characters as a last guard
// under the identity normaliser (adapters/identity), which folds compatibility forms and refuses
// mixed scripts: see TestLookAlikeIdentities there.
func TestSyntaxRefusesInvisibleCharacters(t *testing.T) {
	for name, in := range map[string]string{
		"zero-width space":  "vic\u200btim@example.com",
		"zero-width joiner": "victim\u200d@example.com",
		"BOM":               "\ufeffvictim@example.com",
		"NEL (U+0085)":      "victim\u0085@example.com",
		"bidi override":     "victim@exam\u202eelpm.com",
		"bidi isolate":      "\u2066victim@example.com",
		"line separator":    "victim\u2028@example.com",
	} {
		if got, err := domain.NormalizeEmail(in); err == nil {
			t.Errorf("%s: NormalizeEmail(%q) = %q, want invalid_email", name, in, got)
		}
	}
	for _, ok := range []string{"пользователь@пример.рф", "ελληνικά@example.com", "José.Núñez@example.com"} {
		if _, err := domain.NormalizeEmail(ok); err != nil {
			t.Errorf("NormalizeEmail(%q): %v, want accepted", ok, err)
		}
	}
	for _, bad := range []string{"Ann\u202eie", "Zero\u200bWidth", "Tab\tName", "Next\u0085Line"} {
		if domain.ValidateName(bad) == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	if err := domain.ValidateName("Zoë Ødegård 🚀"); err != nil {
		t.Errorf("an ordinary name refused: %v", err)
	}
}
