// Package mail implements ports.Mailer. Log, the default, writes each message to the process
// log so that a developer sees verification and reset links without a mail server. Each
// implementation is its own type with its own constructor; an SMTP mailer chosen by
// PORTCULLIS_SMTP_URL belongs beside Log, and cmd picks one by configuration.
package mail
