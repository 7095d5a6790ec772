package application

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// PasswordReset resets forgotten passwords through an emailed link.
type PasswordReset struct {
	idn      ports.IdentityNormalizer
	sessions ports.SessionStore
	hasher   ports.PasswordHasher
	tokens   *tokenSpender
	store    ports.OneTimeTokens
	mail     *MailQueue
	clock    ports.Clock
	throttle *Throttle
	factors  *SecondFactors // nil: no second factors to remove (see UseSecondFactors)
	audit    *Auditor
	log      *slog.Logger
}

// NewPasswordReset wires the password-reset use case. A successful reset lifts the account's
// login lock through throttle (nil: no throttling).
func NewPasswordReset(users ports.UserStore, idn ports.IdentityNormalizer, sessions ports.SessionStore, hasher ports.PasswordHasher, tokens ports.OneTimeTokens,
	mail *MailQueue, clock ports.Clock, throttle *Throttle, audit *Auditor, log *slog.Logger) *PasswordReset {
	return &PasswordReset{idn: idn, sessions: sessions, hasher: hasher, store: tokens,
		tokens: &tokenSpender{tokens: tokens, users: users, clock: clock, audit: audit}, mail: mail, clock: clock, throttle: throttle,
		audit: audit, log: log}
}

// UseSecondFactors lets a reset that proves an unverified address remove the second factors
// and passkeys the account was given before (see Reset). The composition root calls it once,
// before serving.
func (p *PasswordReset) UseSecondFactors(f *SecondFactors) { p.factors = f }

// Forgot queues a reset mail to email. It does the same work, and answers the same (nil),
// whether or not an account has that address: the request writes one outbox row, and the
// delivery worker looks the account up later (and drops the message when there is none).
// Only a malformed address is refused.
func (p *PasswordReset) Forgot(ctx context.Context, email string) error {
	addr, invalid := p.idn.Email(email)
	if invalid != nil {
		return invalid
	}
	return p.mail.queue(ctx, domain.OutboxMail{Kind: domain.MailResetPassword, To: addr})
}

// Reset spends a reset token and sets newPassword (the registration policy applies; a
// password that fails it spends no token). Every session of the user ends, outstanding reset
// and address-change tokens are spent (endCredentialLinks), a login lock on the account is
// lifted, the owner is told by mail, and nobody is logged in. A bad token is
// domain.ErrInvalidOneTimeToken and changes nothing.
//
// A reset of an account whose address was not verified is the first proof that its owner holds
// the mailbox: whoever registered the address before them (anyone may, without it) may have
// given the account a passkey or an authenticator, which would outlive the new password and let
// them back in. So such a reset also removes every second factor and passkey of the account.
func (p *PasswordReset) Reset(ctx context.Context, token, newPassword string) error {
	if invalid := checkNewPassword(p.hasher, newPassword); invalid != nil {
		return invalid.In("new_password")
	}
	t, err := p.tokens.spend(ctx, token, domain.PurposeResetPassword)
	if err != nil {
		return err
	}
	hash, err := p.hasher.Hash(ctx, newPassword)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	// The factors of an unverified account go before it is marked verified, so that a failure
	// leaves it unverified (the next reset removes them), and again after, so that none added
	// in between survives; both before the sessions end, so that a passkey login in between
	// loses its session too.
	factorsRemoved, err := p.removeUnprovenFactors(ctx, t)
	if err != nil {
		return err
	}
	var unproven bool
	u, err := p.tokens.grant(ctx, t, func(u domain.User) bool { return u.Email == t.NewEmail },
		func(u *domain.User) bool {
			// The link reached the account's address: that address is proven.
			unproven = !u.EmailVerified
			u.PasswordHash, u.EmailVerified = hash, true
			return true
		})
	if err != nil {
		return err
	}
	if unproven && p.factors != nil {
		if err := p.factors.removeAll(ctx, u.ID); err != nil {
			return err
		}
		factorsRemoved = true
	}
	revoked, err := p.sessions.DeleteByUser(ctx, u.ID, p.clock.Now())
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if err := endCredentialLinks(ctx, p.store, p.mail, u.ID); err != nil {
		return err
	}
	// The owner proved the mailbox: the soft lock that failed logins put on the account goes, so
	// the new password works at once. A limiter failure is logged; the lock still ends by itself.
	if err := p.throttle.Unlock(context.WithoutCancel(ctx), u.ID); err != nil {
		p.log.WarnContext(ctx, "password reset: lifting the login lock failed", "user_id", u.ID, "error", err)
	}
	p.log.InfoContext(ctx, "password reset", "user_id", u.ID, "sessions_revoked", revoked)
	detail := fmt.Sprintf("sessions_revoked=%d", revoked)
	if factorsRemoved {
		p.log.InfoContext(ctx, "second factors removed: the reset proved an unverified address", "user_id", u.ID)
		detail += " factors_removed=unverified_address"
	}
	p.audit.record(ctx, domain.EventPasswordReset, u.ID, u.ID, "ok", detail)
	p.mail.notify(ctx, domain.OutboxMail{Kind: domain.MailPasswordReset, To: u.Email, UserID: u.ID, Name: u.Name})
	return nil
}

// removeUnprovenFactors removes every second factor and passkey of the account reset token t
// names when its address, the one t was mailed to, is not verified, and reports whether it did.
func (p *PasswordReset) removeUnprovenFactors(ctx context.Context, t domain.OneTimeToken) (bool, error) {
	if p.factors == nil {
		return false, nil
	}
	u, err := p.tokens.users.ByID(ctx, t.UserID)
	switch {
	case isNotFound(err):
		return false, nil // grant refuses the token
	case err != nil:
		return false, fmt.Errorf("load user: %w", err)
	case u.EmailVerified || u.Email != t.NewEmail:
		return false, nil
	}
	if err := p.factors.removeAll(ctx, u.ID); err != nil {
		return false, err
	}
	return true, nil
}
