package mail_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	for _, k := range domain.MailKinds {
		t.Run(string(k), func(t *testing.T) {
			m := domain.OutboxMail{ID: "m1", Kind: k, To: "ada@example.com", Name: "Ada", NewEmail: "ada@example.org"}
			_, withLink := k.Purpose()
			_, err := tm.Compose(m)
			if withLink && err == nil {
				t.Fatal("composed a mail of a kind with a link without one")
			}
			if !withLink && err != nil {
				t.Fatalf("a notice without a link: %v", err)
			}
			if !withLink {
				return
			}
			m.Link = "https://auth.example.com/x?token=abc"
			got, err := tm.Compose(m)
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
