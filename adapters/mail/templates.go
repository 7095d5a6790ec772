package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// embedded holds the default templates: for each kind of mail, KIND.txt (text/template,
// defining "subject" and "text") and KIND.html (html/template, defining "subject" and
// "content", rendered inside layout.html's "layout").
//
//go:embed templates
var embedded embed.FS

// TemplateConfig is what the templates say besides the message itself.
type TemplateConfig struct {
	// Product names the service in every message (PORTCULLIS_PRODUCT_NAME); it must be set.
	Product string
	// PublicURL is where a notice sends the reader.
	PublicURL string
	// Dir, when set, is a directory of templates that replace the embedded ones file by file
	// (same names: verify_email.txt, verify_email.html, layout.html ...).
	Dir string
}

// Templates renders outbox messages into multipart mail (ports.MailComposer). Every template
// is parsed, and rendered once with sample data, at construction, so a broken override stops
// start-up rather than a delivery. Safe for concurrent use.
type Templates struct {
	cfg  TemplateConfig
	text map[domain.MailKind]*texttemplate.Template
	html map[domain.MailKind]*htmltemplate.Template
}

var _ ports.MailComposer = (*Templates)(nil)

// templateData is what a template sees.
type templateData struct {
	Product, PublicURL string
	Name, To, NewEmail string
	Link               string
	// TTL is how long the link has left when the mail is composed, roughly, in words ("about
	// 20 minutes"), and Expires when it ends, in UTC to the minute ("14:35 UTC on 3 December
	// 2026"): not the lifetime of a new link, because a later attempt may send the link of an
	// earlier one, which has only part of it left.
	TTL, Expires string
}

// buttonData is the argument of layout.html's "button".
type buttonData struct{ Link, Label string }

// NewTemplates parses the embedded templates, and cfg.Dir's overrides.
func NewTemplates(cfg TemplateConfig) (*Templates, error) {
	if cfg.Product == "" {
		return nil, errors.New("mail: TemplateConfig.Product must be set")
	}
	t := &Templates{cfg: cfg, text: map[domain.MailKind]*texttemplate.Template{}, html: map[domain.MailKind]*htmltemplate.Template{}}
	read := func(name string) (string, error) {
		if cfg.Dir != "" {
			b, err := os.ReadFile(cfg.Dir + string(os.PathSeparator) + name)
			if err == nil {
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("mail template %s: %w", name, err)
			}
		}
		b, err := embedded.ReadFile("templates/" + name)
		return string(b), err
	}
	layout, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	funcs := htmltemplate.FuncMap{"button": func(link, label string) buttonData { return buttonData{link, label} }}
	var problems []error
	for _, k := range domain.MailKinds {
		src, err := read(string(k) + ".txt")
		if err == nil {
			t.text[k], err = texttemplate.New(string(k) + ".txt").Parse(src)
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("mail template %s.txt: %w", k, err))
		}
		src, err = read(string(k) + ".html")
		if err == nil {
			var h *htmltemplate.Template
			if h, err = htmltemplate.New("layout.html").Funcs(funcs).Parse(layout); err == nil {
				t.html[k], err = h.New(string(k) + ".html").Parse(src)
			}
		}
		if err != nil {
			problems = append(problems, fmt.Errorf("mail template %s.html: %w", k, err))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	now := time.Now()
	for _, k := range domain.MailKinds {
		sample := domain.OutboxMail{ID: "sample", Kind: k, To: "ada@example.com", Name: "Ada", NewEmail: "ada@example.org",
			Link: cfg.PublicURL + "/sample?token=sample", LinkExpiresAt: now.Add(30 * time.Minute)}
		if _, err := t.Compose(sample, now); err != nil {
			problems = append(problems, err)
		}
	}
	return t, errors.Join(problems...)
}

// Compose renders m as of now: subject, text part, HTML part and the link, with the time the
// link has left until m.LinkExpiresAt. A message of a kind with a link that has none, or no time
// left, or whose text part would not carry it (an override without {{.Link}}, refused at
// construction by the sample rendering), is an error: such a mail is useless.
func (t *Templates) Compose(m domain.OutboxMail, now time.Time) (ports.Mail, error) {
	tt, ht := t.text[m.Kind], t.html[m.Kind]
	if tt == nil || ht == nil {
		return ports.Mail{}, fmt.Errorf("no template for mail kind %q", m.Kind)
	}
	_, withLink := m.Kind.Purpose()
	if withLink && m.Link == "" {
		return ports.Mail{}, fmt.Errorf("render %s: the message has no link", m.Kind)
	}
	d := templateData{Product: t.cfg.Product, PublicURL: t.cfg.PublicURL, Name: m.Name, To: m.To, NewEmail: m.NewEmail,
		Link: m.Link}
	if withLink {
		left := m.LinkExpiresAt.Sub(now)
		if left <= 0 {
			return ports.Mail{}, fmt.Errorf("render %s: the link has no time left (expires at %s)", m.Kind, m.LinkExpiresAt)
		}
		// Cut to the minute, so that the time stated is never later than the real one.
		d.TTL, d.Expires = timeLeft(left), m.LinkExpiresAt.UTC().Truncate(time.Minute).Format("15:04 UTC on 2 January 2006")
	}
	var subject, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subject, "subject", d); err != nil {
		return ports.Mail{}, fmt.Errorf("render %s subject: %w", m.Kind, err)
	}
	if err := tt.ExecuteTemplate(&text, "text", d); err != nil {
		return ports.Mail{}, fmt.Errorf("render %s text: %w", m.Kind, err)
	}
	if err := ht.ExecuteTemplate(&html, "layout", d); err != nil {
		return ports.Mail{}, fmt.Errorf("render %s html: %w", m.Kind, err)
	}
	if withLink && !strings.Contains(text.String(), m.Link) {
		return ports.Mail{}, fmt.Errorf("render %s text: the link is not in it", m.Kind)
	}
	return ports.Mail{
		ID: m.ID, To: m.To, Link: m.Link,
		// A subject is one header line, whatever a template or a name put into it.
		Subject: strings.Join(strings.Fields(subject.String()), " "),
		Text:    strings.TrimLeft(text.String(), "\n"),
		HTML:    html.String(),
	}, nil
}

// timeLeft says roughly how long d is, as a person would of a link with d left: to the nearest
// minute below two hours ("about 20 minutes", "about 1 hour"), then in whole hours, and past two
// days in whole days, rounded down ("about 23 hours", "about 3 days"). The nearest minute, not
// one less: a fresh link, composed a moment after it was made, is a few milliseconds short of
// its lifetime and reads as the whole of it (a stated "about" half a minute too long is harmless
// next to the expiry, which is cut to the minute).
func timeLeft(d time.Duration) string {
	unit := func(n time.Duration, one string) string {
		if n == 1 {
			return "about 1 " + one
		}
		return fmt.Sprintf("about %d %ss", n, one)
	}
	m := d.Round(time.Minute)
	switch {
	case m < time.Minute:
		return "less than a minute"
	case m == time.Hour:
		return unit(1, "hour")
	case m < 2*time.Hour:
		return unit(m/time.Minute, "minute")
	case m < 48*time.Hour:
		return unit(m/time.Hour, "hour")
	}
	return unit(m/(24*time.Hour), "day")
}
