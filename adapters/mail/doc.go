// Package mail delivers Portcullis's mail: the ports.Mailer implementations — Log, the
// default, which writes each message and its link to the process log so that a developer sees
// verification and reset links without a mail server, and SMTP (go-mail), chosen by
// PORTCULLIS_SMTP_URL — and Templates, the ports.MailComposer that renders each kind of
// message into text and HTML from embedded templates an operator may override from a
// directory.
package mail
