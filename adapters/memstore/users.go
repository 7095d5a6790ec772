package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/portcullis-auth/portcullis/domain"
)

// Users is an in-process ports.UserStore, safe for concurrent use. Email (as given, which the
// caller has normalised) and username (when set) are unique: Create and Update report a clash
// as domain.ErrConflict. Lookups, Update and Delete of a missing user are domain.ErrNotFound.
// Update is optimistic: it writes only over the version it was given (else domain.ErrStale).
type Users struct {
	mu         sync.RWMutex
	byID       map[string]domain.User
	byEmail    map[string]string // email -> id
	byUsername map[string]string // username -> id
	// ownedBy delete a user's second factors with the user (WithSecondFactors).
	ownedBy []func(ctx context.Context, userID string) error
}

// NewUsers returns an empty user store.
func NewUsers() *Users {
	return &Users{
		byID:       make(map[string]domain.User),
		byEmail:    make(map[string]string),
		byUsername: make(map[string]string),
	}
}

// Create stores u with version 1; a taken id, email or username is domain.ErrConflict.
func (m *Users) Create(ctx context.Context, u domain.User) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[u.ID]; ok {
		return fmt.Errorf("create user %s: id: %w", u.ID, domain.ErrConflict)
	}
	if err := m.checkUnique(u); err != nil {
		return fmt.Errorf("create user %s: %w", u.ID, err)
	}
	u.Version = 1
	m.put(u)
	return nil
}

// ByID returns the user id, or domain.ErrNotFound.
func (m *Users) ByID(ctx context.Context, id string) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, fmt.Errorf("load user: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	u, ok := m.byID[id]
	if !ok {
		return domain.User{}, fmt.Errorf("load user %s: %w", id, domain.ErrNotFound)
	}
	return cloneUser(u), nil
}

// ByEmail returns the user with the normalised email, or domain.ErrNotFound.
func (m *Users) ByEmail(ctx context.Context, normalizedEmail string) (domain.User, error) {
	return m.byKey(ctx, m.byEmail, "email", normalizedEmail)
}

// ByUsername returns the user with the username, or domain.ErrNotFound. The empty username
// (not set) finds nobody.
func (m *Users) ByUsername(ctx context.Context, username string) (domain.User, error) {
	return m.byKey(ctx, m.byUsername, "username", username)
}

func (m *Users) byKey(ctx context.Context, index map[string]string, what, key string) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, fmt.Errorf("load user by %s: %w", what, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := index[key]
	if !ok || key == "" {
		return domain.User{}, fmt.Errorf("load user by %s: %w", what, domain.ErrNotFound)
	}
	return cloneUser(m.byID[id]), nil
}

// Update writes every mutable field of u for u.ID if the stored version equals u.Version, and
// stores version u.Version+1; it returns the user as stored. A missing user is domain.ErrNotFound, another stored version
// domain.ErrStale, an email or username taken by another user domain.ErrConflict; on any
// error nothing is written. CreatedAt is kept.
func (m *Users) Update(ctx context.Context, u domain.User) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, fmt.Errorf("update user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.update(u)
}

// UpdateUnlessLastAdmin is Update, refused with domain.ErrLastAdmin (nothing written) when the
// stored user is an enabled admin, u is not, and no other enabled admin exists. The check and
// the write happen under one hold of the store's lock.
func (m *Users) UpdateUnlessLastAdmin(ctx context.Context, u domain.User) (domain.User, error) {
	if err := ctx.Err(); err != nil {
		return domain.User{}, fmt.Errorf("update user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byID[u.ID]; ok && old.Version == u.Version && old.ActiveAdmin() && !u.ActiveAdmin() && !m.otherActiveAdmin(u.ID) {
		return domain.User{}, fmt.Errorf("update user %s: %w", u.ID, domain.ErrLastAdmin)
	}
	return m.update(u)
}

// update is Update; the caller holds the write lock.
func (m *Users) update(u domain.User) (domain.User, error) {
	old, ok := m.byID[u.ID]
	if !ok {
		return domain.User{}, fmt.Errorf("update user %s: %w", u.ID, domain.ErrNotFound)
	}
	if old.Version != u.Version {
		return domain.User{}, fmt.Errorf("update user %s: version %d, stored %d: %w", u.ID, u.Version, old.Version, domain.ErrStale)
	}
	if err := m.checkUnique(u); err != nil {
		return domain.User{}, fmt.Errorf("update user %s: %w", u.ID, err)
	}
	m.drop(old)
	u.CreatedAt = old.CreatedAt
	u.Version++
	m.put(u)
	return cloneUser(u), nil
}

// Delete removes user id; a missing one is domain.ErrNotFound, and the only enabled admin is
// domain.ErrLastAdmin (nothing removed): the check and the removal happen under one hold of the
// store's lock.
func (m *Users) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.byID[id]; ok && u.ActiveAdmin() && !m.otherActiveAdmin(id) {
		return fmt.Errorf("delete user %s: %w", id, domain.ErrLastAdmin)
	}
	return m.delete(ctx, id)
}

// delete removes user id and its factors; the caller holds the write lock.
func (m *Users) delete(ctx context.Context, id string) error {
	u, ok := m.byID[id]
	if !ok {
		return fmt.Errorf("delete user %s: %w", id, domain.ErrNotFound)
	}
	m.drop(u)
	// Under the user lock, so no reader finds the user without the factors it had.
	for _, del := range m.ownedBy {
		_ = del(context.WithoutCancel(ctx), id) // the memory stores fail only on a cancelled context
	}
	return nil
}

// otherActiveAdmin reports whether an enabled admin other than user id is stored; the caller
// holds the lock.
func (m *Users) otherActiveAdmin(id string) bool {
	for _, u := range m.byID {
		if u.ID != id && u.ActiveAdmin() {
			return true
		}
	}
	return false
}

// WithSecondFactors makes Delete remove a user's TOTP factor, recovery codes and passkeys from
// these stores (any may be nil) together with the user, as the SQL store does in one
// transaction. It returns m; call it before use.
func (m *Users) WithSecondFactors(totp *TOTPFactors, codes *RecoveryCodes, passkeys *Passkeys) *Users {
	m.mu.Lock()
	defer m.mu.Unlock()
	if totp != nil {
		m.ownedBy = append(m.ownedBy, totp.Delete)
	}
	if codes != nil {
		m.ownedBy = append(m.ownedBy, codes.DeleteByUser)
	}
	if passkeys != nil {
		m.ownedBy = append(m.ownedBy, passkeys.DeleteByUser)
	}
	return m
}

// checkUnique reports domain.ErrConflict when u's email or username belongs to another user;
// the caller holds the lock.
func (m *Users) checkUnique(u domain.User) error {
	if id, ok := m.byEmail[u.Email]; ok && id != u.ID {
		return &domain.ConflictError{Field: "email"}
	}
	if id, ok := m.byUsername[u.Username]; ok && u.Username != "" && id != u.ID {
		return &domain.ConflictError{Field: "username"}
	}
	return nil
}

// put stores a copy of u and indexes it; the caller holds the write lock.
func (m *Users) put(u domain.User) {
	u = cloneUser(u)
	m.byID[u.ID] = u
	m.byEmail[u.Email] = u.ID
	if u.Username != "" {
		m.byUsername[u.Username] = u.ID
	}
}

// drop removes u and its index entries; the caller holds the write lock.
func (m *Users) drop(u domain.User) {
	delete(m.byID, u.ID)
	delete(m.byEmail, u.Email)
	if u.Username != "" {
		delete(m.byUsername, u.Username)
	}
}

func cloneUser(u domain.User) domain.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}
