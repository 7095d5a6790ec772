package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// ChangePasswordInput changes the caller's password. SessionID is the caller's session, which
// survives; every other session of the user is revoked.
type ChangePasswordInput struct {
	UserID          string
	SessionID       string
	CurrentPassword string
	NewPassword     string
}

// ChangePassword changes a password with knowledge of the current one.
type ChangePassword struct {
	users    ports.UserStore
	sessions ports.SessionStore
	hasher   ports.PasswordHasher
	clock    ports.Clock
	throttle *Throttle
	audit    *Auditor
	tokens   ports.OneTimeTokens
	mail     *MailQueue
	log      *slog.Logger
}

// NewChangePassword wires the change-password use case. throttle, tokens and mail may be nil
// (nothing throttled, no reset tokens to spend, no notice).
func NewChangePassword(users ports.UserStore, sessions ports.SessionStore, hasher ports.PasswordHasher, clock ports.Clock, throttle *Throttle,
	audit *Auditor, tokens ports.OneTimeTokens, mail *MailQueue, log *slog.Logger) *ChangePassword {
	return &ChangePassword{users: users, sessions: sessions, hasher: hasher, clock: clock, throttle: throttle, audit: audit, tokens: tokens,
		mail: mail, log: log}
}

// Handle checks the current password as reauthenticate does (wrong:
// domain.ErrInvalidCredentials, counted as a failed login; throttled: domain.ErrThrottled;
// either way nothing changes),
// applies the password policy to the new one, stores its hash and revokes the other sessions.
// The write is optimistic: if the account changed while the passwords were being hashed (an
// administrator disabled it), the whole read-check-write cycle runs again, up to staleAttempts
// times, and then fails with domain.ErrStale; a change made meanwhile is never undone.
func (c *ChangePassword) Handle(ctx context.Context, in ChangePasswordInput) error {
	if invalid := checkNewPassword(c.hasher, in.NewPassword); invalid != nil {
		return invalid.In("new_password")
	}
	var u domain.User
	err := retryStale(func() error {
		var err error
		u, err = c.change(ctx, in)
		return err
	})
	if err != nil {
		return err
	}
	revoked, err := revokeOthers(ctx, c.sessions, u.ID, in.SessionID, u.UpdatedAt)
	if err != nil {
		return err
	}
	// A reset link mailed before the change must not undo it, nor an address-change link asked
	// for with the old password move the account away (endCredentialLinks).
	if err := endCredentialLinks(ctx, c.tokens, c.mail, u.ID); err != nil {
		return err
	}
	c.mail.notify(ctx, domain.OutboxMail{Kind: domain.MailPasswordChanged, To: u.Email, UserID: u.ID, Name: u.Name})
	c.log.InfoContext(ctx, "password changed", "user_id", u.ID, "sessions_revoked", revoked)
	c.audit.record(ctx, domain.EventPasswordChange, u.ID, u.ID, "ok", fmt.Sprintf("sessions_revoked=%d", revoked))
	return nil
}

// change is one read-check-write cycle of Handle; it returns the user as stored.
func (c *ChangePassword) change(ctx context.Context, in ChangePasswordInput) (domain.User, error) {
	u, err := loadSelf(ctx, c.users, in.UserID)
	if err != nil {
		return domain.User{}, err
	}
	if err := reauthenticate(ctx, c.throttle, c.hasher, c.log, u, in.CurrentPassword); err != nil {
		if errors.Is(err, domain.ErrInvalidCredentials) {
			c.log.InfoContext(ctx, "password change refused", "user_id", u.ID, "outcome", "bad_password")
			c.audit.record(ctx, domain.EventPasswordChange, u.ID, u.ID, "bad_password", "")
		}
		return domain.User{}, err
	}
	if u.PasswordHash, err = c.hasher.Hash(ctx, in.NewPassword); err != nil {
		return domain.User{}, fmt.Errorf("hash password: %w", err)
	}
	u.UpdatedAt = c.clock.Now()
	stored, err := c.users.Update(ctx, u)
	if err != nil {
		return domain.User{}, fmt.Errorf("update user: %w", err)
	}
	return stored, nil
}
