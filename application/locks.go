package application

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Locks lets an administrator (or the operator) see and lift the login throttling of one
// account: its soft lock and the growing delay of its failed logins.
type Locks struct {
	users    ports.UserStore
	throttle *Throttle
	audit    *Auditor
	log      *slog.Logger
}

// NewLocks wires the lock administration use case.
func NewLocks(users ports.UserStore, throttle *Throttle, audit *Auditor, log *slog.Logger) *Locks {
	return &Locks{users: users, throttle: throttle, audit: audit, log: log}
}

// Status reports the login throttling of user id. Admins and moderators may read it.
func (l *Locks) Status(ctx context.Context, actor Principal, id string) (LockStatus, error) {
	if !canRead(actor) {
		return LockStatus{}, domain.ErrForbidden
	}
	if _, err := l.users.ByID(ctx, id); err != nil {
		return LockStatus{}, fmt.Errorf("load user: %w", err)
	}
	st, err := l.throttle.Status(ctx, id)
	if err != nil {
		return LockStatus{}, fmt.Errorf("lock status: %w", err)
	}
	return st, nil
}

// Unlock lifts the soft lock of user id and forgets its failed logins, so the owner may log in
// at once. Admins only; audited with whether the account was locked.
func (l *Locks) Unlock(ctx context.Context, actor Principal, id string) (was LockStatus, err error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return LockStatus{}, domain.ErrForbidden
	}
	if _, err := l.users.ByID(ctx, id); err != nil {
		return LockStatus{}, fmt.Errorf("load user: %w", err)
	}
	if was, err = l.throttle.Status(ctx, id); err != nil {
		return LockStatus{}, fmt.Errorf("lock status: %w", err)
	}
	if err := l.throttle.Unlock(ctx, id); err != nil {
		return LockStatus{}, err
	}
	l.log.InfoContext(ctx, "account unlocked", "user_id", id, "was_locked", was.Locked)
	l.audit.record(ctx, domain.EventUserUnlock, actor.UserID, id, "ok", fmt.Sprintf("was_locked=%t", was.Locked))
	return was, nil
}
