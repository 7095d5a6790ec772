package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// ChangeEmailInput asks to move the caller's account to NewEmail; Password confirms it is the
// owner asking.
type ChangeEmailInput struct {
	UserID   string
	NewEmail string
	Password string
}

// ChangeEmail moves an account to a new address once the new address has confirmed it.
type ChangeEmail struct {
	users    ports.UserStore
	idn      ports.IdentityNormalizer
	hasher   ports.PasswordHasher
	tokens   *tokenSpender
	mail     *MailQueue
	clock    ports.Clock
	throttle *Throttle
	audit    *Auditor
	log      *slog.Logger
}

// NewChangeEmail wires the e-mail change use case. throttle may be nil (nothing throttled).
func NewChangeEmail(users ports.UserStore, idn ports.IdentityNormalizer, hasher ports.PasswordHasher, tokens ports.OneTimeTokens,
	mail *MailQueue, clock ports.Clock, throttle *Throttle, audit *Auditor, log *slog.Logger) *ChangeEmail {
	return &ChangeEmail{users: users, idn: idn, hasher: hasher, tokens: &tokenSpender{tokens: tokens, users: users, clock: clock, audit: audit}, mail: mail,
		clock: clock, throttle: throttle, audit: audit, log: log}
}

// Request checks the password as reauthenticate does (wrong: domain.ErrInvalidCredentials,
// counted as a failed login; throttled: domain.ErrThrottled) and queues a confirmation
// link to the new address and a notice to the current one; nothing changes until the link is
// used. An address another account holds is a *domain.ConflictError on "email" — unless
// PORTCULLIS_REQUIRE_VERIFIED_EMAIL is set, where it answers as if queued (and sends no link),
// so that the answer does not reveal the address has an account.
func (c *ChangeEmail) Request(ctx context.Context, in ChangeEmailInput) error {
	addr, invalid := c.idn.Email(in.NewEmail)
	if invalid != nil {
		return invalid.In("new_email")
	}
	u, err := loadSelf(ctx, c.users, in.UserID)
	if err != nil {
		return err
	}
	if err := reauthenticate(ctx, c.throttle, c.hasher, c.log, u, in.Password); err != nil {
		if errors.Is(err, domain.ErrInvalidCredentials) {
			c.audit.record(ctx, domain.EventEmailChangeAsk, u.ID, u.ID, "bad_password", "")
		}
		return err
	}
	if addr == u.Email {
		return invalidField("new_email", "same_email", "is already the account's address")
	}
	_, err = c.users.ByEmail(ctx, addr)
	taken := err == nil
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return fmt.Errorf("load user: %w", err)
	}
	if taken && !c.mail.requireVerified() {
		return &domain.ConflictError{Field: "email"}
	}
	notice := domain.OutboxMail{Kind: domain.MailEmailChangeNotice, To: u.Email, UserID: u.ID, Name: u.Name, NewEmail: addr}
	if taken {
		c.mail.notify(ctx, notice)
	} else if err := c.mail.queue(ctx,
		domain.OutboxMail{Kind: domain.MailConfirmEmailChange, To: addr, UserID: u.ID, NewEmail: addr}, notice); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "email change requested", "user_id", u.ID)
	c.audit.record(ctx, domain.EventEmailChangeAsk, u.ID, u.ID, "ok", "")
	return nil
}

// Confirm spends a change-email token and moves its account to the new address, verified. A
// bad token is domain.ErrInvalidOneTimeToken; an address taken meanwhile is a
// *domain.ConflictError on "email" (the token is spent: ask again).
func (c *ChangeEmail) Confirm(ctx context.Context, token string) error {
	t, err := c.tokens.spend(ctx, token, domain.PurposeChangeEmail)
	if err != nil {
		return err
	}
	u, err := c.tokens.grant(ctx, t, func(domain.User) bool { return t.NewEmail != "" },
		func(u *domain.User) bool {
			u.Email, u.EmailVerified = t.NewEmail, true
			return true
		})
	if err != nil {
		return err
	}
	c.log.InfoContext(ctx, "email changed", "user_id", u.ID)
	c.audit.record(ctx, domain.EventEmailChange, u.ID, u.ID, "ok", "")
	return nil
}
