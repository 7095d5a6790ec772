package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// VerifyEmail verifies addresses with the emailed token, and sends the token again on request.
type VerifyEmail struct {
	users  ports.UserStore
	idn    ports.IdentityNormalizer
	tokens *tokenSpender
	mail   *MailQueue
	clock  ports.Clock
	audit  *Auditor
	log    *slog.Logger
}

// NewVerifyEmail wires the e-mail verification use case.
func NewVerifyEmail(users ports.UserStore, idn ports.IdentityNormalizer, tokens ports.OneTimeTokens, mail *MailQueue,
	clock ports.Clock, audit *Auditor, log *slog.Logger) *VerifyEmail {
	return &VerifyEmail{users: users, idn: idn, tokens: &tokenSpender{tokens: tokens, clock: clock, audit: audit}, mail: mail,
		clock: clock, audit: audit, log: log}
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
	var u domain.User
	err = retryStale(func() error {
		var err error
		if u, err = v.users.ByID(ctx, t.UserID); err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if u.Disabled || u.Email != t.NewEmail {
			return domain.ErrInvalidOneTimeToken
		}
		if u.EmailVerified {
			return nil
		}
		u.EmailVerified, u.UpdatedAt = true, v.clock.Now()
		if _, err := v.users.Update(ctx, u); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return nil
	})
	if errors.Is(err, domain.ErrNotFound) {
		err = domain.ErrInvalidOneTimeToken
	}
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

// tokenSpender spends emailed one-time tokens for the use cases.
type tokenSpender struct {
	tokens ports.OneTimeTokens
	clock  ports.Clock
	audit  *Auditor
}

// spend consumes token for purpose. A token that is not a live one of that purpose is
// domain.ErrInvalidOneTimeToken.
func (s *tokenSpender) spend(ctx context.Context, token string, purpose domain.TokenPurpose) (domain.OneTimeToken, error) {
	if token == "" || len(token) > 128 {
		return domain.OneTimeToken{}, s.refuse(ctx, purpose)
	}
	t, err := s.tokens.Consume(ctx, hashOneTimeToken(token), purpose, s.clock.Now())
	if errors.Is(err, domain.ErrNotFound) {
		return domain.OneTimeToken{}, s.refuse(ctx, purpose)
	}
	if err != nil {
		return domain.OneTimeToken{}, fmt.Errorf("consume token: %w", err)
	}
	return t, nil
}

// refuse records a bad token and returns the one error for all of them.
func (s *tokenSpender) refuse(ctx context.Context, purpose domain.TokenPurpose) error {
	s.audit.record(ctx, domain.EventTokenRefused, "", "", "invalid_token", "purpose="+string(purpose))
	return domain.ErrInvalidOneTimeToken
}
