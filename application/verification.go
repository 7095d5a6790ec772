package application

import (
	"context"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// VerifyEmail verifies addresses with the emailed token, and sends the token again on request.
type VerifyEmail struct {
	idn    ports.IdentityNormalizer
	tokens *tokenSpender
	mail   *MailQueue
	audit  *Auditor
	log    *slog.Logger
}

// NewVerifyEmail wires the e-mail verification use case.
func NewVerifyEmail(users ports.UserStore, idn ports.IdentityNormalizer, tokens ports.OneTimeTokens, mail *MailQueue,
	clock ports.Clock, audit *Auditor, log *slog.Logger) *VerifyEmail {
	return &VerifyEmail{idn: idn, tokens: &tokenSpender{tokens: tokens, users: users, clock: clock, audit: audit}, mail: mail,
		audit: audit, log: log}
}

// Handle spends a verify-email token and marks the address it was sent to verified. Any bad
// token (unknown, used, expired, superseded, of another purpose, or for an address the account
// no longer has) is domain.ErrInvalidOneTimeToken and changes nothing. (Guessing is throttled
// per client at the edge, with Throttle.CheckGuess and GuessFailed.)
func (v *VerifyEmail) Handle(ctx context.Context, token string) error {
	t, err := v.tokens.spend(ctx, token, domain.PurposeVerifyEmail)
	if err != nil {
		return err
	}
	u, err := v.tokens.grant(ctx, t, func(u domain.User) bool { return u.Email == t.NewEmail },
		func(u *domain.User) bool {
			if u.EmailVerified {
				return false
			}
			u.EmailVerified = true
			return true
		})
	if err != nil {
		return err
	}
	v.log.InfoContext(ctx, "email verified", "user_id", u.ID)
	v.audit.record(ctx, domain.EventEmailVerified, u.ID, u.ID, "ok", "")
	return nil
}

// Resend queues a new verification mail to email. It answers the same (nil) whether or not an
// account has that address, is verified already, or the address had its share of mail: the
// worker finds the account later, off the request. Only a malformed address is refused.
func (v *VerifyEmail) Resend(ctx context.Context, email string) error {
	addr, invalid := v.idn.Email(email)
	if invalid != nil {
		return invalid
	}
	return v.mail.queue(ctx, domain.OutboxMail{Kind: domain.MailVerifyEmail, To: addr})
}
