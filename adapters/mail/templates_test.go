package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/mail"
	"github.com/portcullis-auth/portcullis/domain"
)

// TestComposeRefusesALinkMailWithoutItsLink: a verification, reset or change mail is only worth
// sending with its link; without one (an unprepared message) it is an error, not a mail that
// says "open this link" over nothing. A notice needs no link.
func TestComposeRefusesALinkMailWithoutItsLink(t *testing.T) {
	tm, err := mail.NewTemplates(mail.TemplateConfig{Product: "Portcullis", PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, k := range domain.MailKinds {
		t.Run(string(k), func(t *testing.T) {
			m := domain.OutboxMail{ID: "m1", Kind: k, To: "ada@example.com", Name: "Ada", NewEmail: "ada@example.org"}
			_, withLink := k.Purpose()
			_, err := tm.Compose(m, now)
			if withLink && err == nil {
				t.Fatal("composed a mail of a kind with a link without one")
			}
			if !withLink && err != nil {
				t.Fatalf("a notice without a link: %v", err)
			}
			if !withLink {
				return
			}
			m.Link, m.LinkExpiresAt = "https://auth.example.com/x?token=abc", now.Add(time.Hour)
			got, err := tm.Compose(m, now)
			if err != nil || got.Link != m.Link || !strings.Contains(got.Text, m.Link) || !strings.Contains(got.HTML, m.Link) {
				t.Fatalf("with its link: %+v, %v", got, err)
			}
		})
	}
}

// TestTemplateOverrideWithoutTheLinkStopsStartUp: an override of a link mail whose text leaves
// the link out would send useless mail; it is refused when the templates are built.
func TestTemplateOverrideWithoutTheLinkStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	src := "{{define \"subject\"}}Reset{{end}}{{define \"text\"}}Hello {{.Name}}, reset your password.{{end}}"
	if err := os.WriteFile(filepath.Join(dir, "reset_password.txt"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := mail.NewTemplates(mail.TemplateConfig{Product: "Portcullis", PublicURL: "https://auth.example.com", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "reset_password") {
		t.Fatalf("NewTemplates with a reset text without the link = %v, want an error naming it", err)
	}
}

// TestComposeStatesTheTimeTheLinkHasLeft: a mail says how long its link works from when it is
// sent, and until when — not the lifetime of a new link, since a later attempt may send an
// earlier attempt's link with only part of it left. A fresh link, a moment old, reads as its
// whole lifetime; the expiry is cut to the minute, never later than the real one.
func TestComposeStatesTheTimeTheLinkHasLeft(t *testing.T) {
	tm, err := mail.NewTemplates(mail.TemplateConfig{Product: "Portcullis", PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 14, 15, 20, 0, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		left time.Duration
		want string
	}{
		{"a fresh reset link", 30*time.Minute - 5*time.Millisecond, "expires in about 30 minutes, at 13:45 UTC on 3 December 2026."},
		{"a reused reset link", 20*time.Minute + 10*time.Second, "expires in about 20 minutes, at 13:35 UTC on 3 December 2026."},
		{"a fresh change link", time.Hour - time.Millisecond, "expires in about 1 hour, at 14:15 UTC on 3 December 2026."},
		{"a reused change link", 45 * time.Minute, "expires in about 45 minutes, at 14:00 UTC on 3 December 2026."},
		{"a fresh verification link", 24*time.Hour - time.Millisecond, "expires in about 24 hours, at 13:15 UTC on 4 December 2026."},
		{"a reused verification link", 13*time.Hour + 50*time.Minute, "expires in about 13 hours, at 03:05 UTC on 4 December 2026."},
		{"a link of days", 72 * time.Hour, "expires in about 3 days, at 13:15 UTC on 6 December 2026."},
		{"a link about to expire", 20 * time.Second, "expires in less than a minute, at 13:15 UTC on 3 December 2026."},
	}
	for _, k := range []domain.MailKind{domain.MailVerifyEmail, domain.MailResetPassword, domain.MailConfirmEmailChange} {
		for _, c := range cases {
			t.Run(string(k)+"/"+c.name, func(t *testing.T) {
				m := domain.OutboxMail{ID: "m1", Kind: k, To: "ada@example.com", NewEmail: "ada@example.org",
					Link: "https://auth.example.com/x?token=abc", LinkExpiresAt: now.Add(c.left)}
				got, err := tm.Compose(m, now)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(got.Text, c.want) || !strings.Contains(got.HTML, c.want) {
					t.Fatalf("want %q in both parts:\n%s\n%s", c.want, got.Text, got.HTML)
				}
			})
		}
	}
	m := domain.OutboxMail{ID: "m1", Kind: domain.MailResetPassword, To: "ada@example.com", Link: "https://auth.example.com/x?token=abc",
		LinkExpiresAt: now}
	if got, err := tm.Compose(m, now); err == nil {
		t.Fatalf("composed a mail whose link has expired:\n%s", got.Text)
	}
}
