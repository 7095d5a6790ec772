package mail

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// Module provides the log mailer as ports.Mailer. It needs a *slog.Logger.
var Module = fx.Module("mail",
	fx.Provide(fx.Annotate(NewLog, fx.As(new(ports.Mailer)))),
)

// Log is a ports.Mailer that delivers nothing: it writes each message — recipient, subject and
// text — as one info line to its logger. The text holds one-time links, so use it only where
// the log is as private as the mailbox would be (development, tests). Safe for concurrent use.
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
	l.log.LogAttrs(ctx, slog.LevelInfo, "mail",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("text", m.Text),
	)
	return nil
}
