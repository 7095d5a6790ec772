package mail

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// Module provides the log mailer as ports.Mailer (it needs a *slog.Logger) and the templates
// as ports.MailComposer (they need a TemplateConfig).
var Module = fx.Module("mail",
	fx.Provide(
		fx.Annotate(NewLog, fx.As(new(ports.Mailer))),
		fx.Annotate(NewTemplates, fx.As(new(ports.MailComposer))),
	),
)

// SMTPModule provides the SMTP mailer as ports.Mailer (it needs an SMTPConfig) and the
// templates as ports.MailComposer (they need a TemplateConfig). Use it instead of Module.
var SMTPModule = fx.Module("mail-smtp",
	fx.Provide(
		fx.Annotate(NewSMTP, fx.As(new(ports.Mailer))),
		fx.Annotate(NewTemplates, fx.As(new(ports.MailComposer))),
	),
)

// Log is a ports.Mailer that delivers nothing: it writes each message — recipient, subject,
// its link whole (to copy into a browser) and text — as one info line to its logger. The link
// is a live one-time token, so use it only where the log is as private as the mailbox would be
// (development, tests). Safe for concurrent use.
type Log struct {
	log *slog.Logger
}

// NewLog returns a log mailer writing to log.
func NewLog(log *slog.Logger) *Log {
	return &Log{log: log.With("component", "mail")}
}

// Send logs m at info level. It fails only when ctx is already done, as a real mailer would.
func (l *Log) Send(ctx context.Context, m ports.Mail) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	attrs := []slog.Attr{slog.String("to", m.To), slog.String("subject", m.Subject)}
	if m.Link != "" {
		attrs = append(attrs, slog.String("link", m.Link))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "mail", append(attrs, slog.String("text", m.Text))...)
	return nil
}
