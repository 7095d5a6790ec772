package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/net/idna"

	"github.com/portcullis-auth/portcullis/adapters/internal/tlsca"
	"github.com/portcullis-auth/portcullis/ports"
)

// SMTPConfig is where and how the SMTP mailer delivers.
type SMTPConfig struct {
	// URL is PORTCULLIS_SMTP_URL: smtp://[user:pass@]host[:587] (STARTTLS required; add
	// ?starttls=opportunistic or ?starttls=none for a local relay without TLS) or
	// smtps://[user:pass@]host[:465] (TLS from the first byte).
	URL string
	// CAFile is a PEM file of CA certificates to verify the server against, instead of the
	// system roots.
	CAFile string
	// From is the sender, an address with an optional display name: "Portcullis <no-reply@example.com>".
	From string
	// ReplyTo, when set, is where replies go.
	ReplyTo string
	// Timeout bounds connecting and each SMTP command; it must be positive (cmd/portcullis
	// passes PORTCULLIS_MAIL_SEND_TIMEOUT). The caller's context bounds the whole attempt as well.
	Timeout time.Duration
}

// SMTP is a ports.Mailer that delivers each message over its own SMTP connection, with go-mail.
// Messages are multipart/alternative (text, then HTML) and carry a Message-ID made from the
// outbox id, so a repeat after a crash is recognisable. Safe for concurrent use.
type SMTP struct {
	opts   []gomail.Option
	host   string
	from   string
	reply  string
	domain string // of the sender, for Message-IDs
}

var _ ports.Mailer = (*SMTP)(nil)

// NewSMTP checks cfg and returns the SMTP mailer. It does not connect: a server that is down
// at start only delays mail (the outbox keeps it), and never stops the service.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("PORTCULLIS_SMTP_URL: not a URL")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("PORTCULLIS_SMTP_URL: no host")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("mail: SMTPConfig.Timeout must be positive")
	}
	opts, err := transport(u, host, cfg)
	if err != nil {
		return nil, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("PORTCULLIS_MAIL_FROM: %q is not an address", cfg.From)
	}
	if cfg.ReplyTo != "" {
		if _, err := mail.ParseAddress(cfg.ReplyTo); err != nil {
			return nil, fmt.Errorf("PORTCULLIS_MAIL_REPLY_TO: %q is not an address", cfg.ReplyTo)
		}
	}
	dom := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	opts = append(opts, gomail.WithHELO(heloName(dom)))
	return &SMTP{opts: opts, host: host, from: cfg.From, reply: cfg.ReplyTo, domain: dom}, nil
}

// transport is how to reach the server u names: the timeout, TLS (trusting cfg.CAFile when
// set), the scheme's TLS policy, the port (the scheme's default when u has none) and the
// credentials u carries. starttls is the only query parameter u may have.
func transport(u *url.URL, host string, cfg SMTPConfig) ([]gomail.Option, error) {
	tlsConf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, _, err := tlsca.Read(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("PORTCULLIS_SMTP_TLS_CA_FILE: %w", err)
		}
		tlsConf.RootCAs = pool
	}
	opts := []gomail.Option{gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(tlsConf)}
	port := 0
	if p := u.Port(); p != "" {
		var err error
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, errors.New("PORTCULLIS_SMTP_URL: bad port")
		}
	}
	security, defaultPort, err := schemeSecurity(u)
	if err != nil {
		return nil, err
	}
	if port == 0 {
		port = defaultPort
	}
	opts = append(opts, security)
	for k := range u.Query() {
		if k != "starttls" {
			return nil, fmt.Errorf("PORTCULLIS_SMTP_URL: unknown parameter %q", k)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	return opts, nil
}

// schemeSecurity is the TLS option and default port of u's scheme: smtp:// upgrades with
// STARTTLS (?starttls=required, the default, opportunistic or none) on port 587; smtps:// speaks
// TLS from the start on port 465.
func schemeSecurity(u *url.URL) (gomail.Option, int, error) {
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSMandatory
		switch v := u.Query().Get("starttls"); v {
		case "", "required":
		case "opportunistic":
			policy = gomail.TLSOpportunistic
		case "none":
			policy = gomail.NoTLS
		default:
			return nil, 0, fmt.Errorf("PORTCULLIS_SMTP_URL: starttls=%q: use required, opportunistic or none", v)
		}
		return gomail.WithTLSPolicy(policy), 587, nil
	case "smtps":
		return gomail.WithSSL(), 465, nil
	}
	return nil, 0, errors.New("PORTCULLIS_SMTP_URL: the scheme must be smtp:// or smtps://")
}

// heloName is the name this client greets the server with: the sender's domain (a receiving
// server may check it resolves), or localhost for a bare address.
func heloName(dom string) string {
	if dom == "" || net.ParseIP(strings.Trim(dom, "[]")) != nil {
		return "localhost"
	}
	return dom
}

// envelopeAddress is addr with its domain as an A-label ("ann@bücher.de" is sent to
// "ann@xn--bcher-kva.de"): stored addresses keep their domain's U-label, which a relay without
// SMTPUTF8 refuses, while every relay takes the A-label. An address whose domain is not a valid
// IDN is returned as it is.
func envelopeAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	ascii, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return addr
	}
	return addr[:at+1] + ascii
}

// Send delivers m in one SMTP session bounded by ctx.
func (s *SMTP) Send(ctx context.Context, m ports.Mail) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("smtp: sender: %w", err)
	}
	if err := msg.To(envelopeAddress(m.To)); err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	if s.reply != "" {
		if err := msg.ReplyTo(s.reply); err != nil {
			return fmt.Errorf("smtp: reply-to: %w", err)
		}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@" + s.domain)
	} else {
		msg.SetMessageID()
	}
	// RFC 3834: an automatic message; auto-responders must not answer it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}
