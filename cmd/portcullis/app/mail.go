package app

// Mail: the mail adapter, the mail settings of the use cases, and the outbox delivery worker.

import (
	"context"
	"fmt"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/mail"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/config"
)

// mailer picks the mail adapter: SMTP when PORTCULLIS_SMTP_URL is set, else the log mailer.
func mailer(cfg config.Config) fx.Option {
	templates := fx.Supply(mail.TemplateConfig{Product: cfg.ProductName, PublicURL: cfg.PublicURL, Dir: cfg.MailTemplatesDir})
	if cfg.SMTPURL == "" {
		return fx.Options(mail.Module, templates)
	}
	return fx.Options(mail.SMTPModule, templates, fx.Supply(smtpConfig(cfg)))
}

func smtpConfig(cfg config.Config) mail.SMTPConfig {
	return mail.SMTPConfig{URL: cfg.SMTPURL, CAFile: cfg.SMTPTLSCAFile, From: cfg.MailFrom, ReplyTo: cfg.MailReplyTo,
		Timeout: cfg.MailSendTimeout}
}

func mailSettings(cfg config.Config) application.MailSettings {
	return application.MailSettings{
		PublicURL: cfg.PublicURL, VerifyPath: cfg.VerifyEmailPath, ResetPath: cfg.ResetPasswordPath, ConfirmPath: cfg.ConfirmEmailPath,
		VerifyTTL: cfg.VerifyEmailTTL, ResetTTL: cfg.ResetPasswordTTL, ChangeTTL: cfg.ChangeEmailTTL, DailyCap: cfg.MailDailyCap,
		AddressInterval: cfg.MailAddressInterval,
		MaxAttempts:     cfg.MailMaxAttempts, RetryBase: cfg.MailRetryBase, RetryMax: cfg.MailRetryMax,
		SendTimeout: cfg.MailSendTimeout, PollInterval: cfg.MailPollInterval,
	}
}

// mailWorker runs the outbox's delivery worker in this process from start to stop (unless
// PORTCULLIS_MAIL_WORKER=false), and wakes it whenever this process queues mail. It is part of
// the service, not of the operator's commands, which only queue.
func mailWorker(cfg config.Config) fx.Option {
	if !cfg.MailWorker {
		return fx.Options()
	}
	return fx.Options(
		fx.Provide(application.NewMailDelivery),
		fx.Invoke(func(lc fx.Lifecycle, d *application.MailDelivery, q *application.MailQueue) {
			q.OnQueued(d.Wake)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error {
					go func() { defer close(done); d.Run(ctx) }()
					return nil
				},
				OnStop: func(stop context.Context) error {
					cancel()
					select {
					case <-done:
						return nil
					case <-stop.Done():
						return fmt.Errorf("stop the mail delivery worker: %w", stop.Err())
					}
				},
			})
		}),
	)
}
