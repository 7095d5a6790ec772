package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Passkeys is an in-process ports.Passkeys under one mutex, which makes Use's counter check
// atomic. Safe for concurrent use.
type Passkeys struct {
	mu   sync.Mutex
	byID map[string]domain.Passkey
}

var _ ports.Passkeys = (*Passkeys)(nil)

// NewPasskeys returns an empty passkey store.
func NewPasskeys() *Passkeys { return &Passkeys{byID: map[string]domain.Passkey{}} }

func clonePasskey(p domain.Passkey) domain.Passkey {
	p.CredentialID, p.Credential = slices.Clone(p.CredentialID), slices.Clone(p.Credential)
	p.CreatedAt, p.LastUsedAt = utc(p.CreatedAt), utc(p.LastUsedAt)
	return p
}

// Add stores p unless its id or credential id is held.
func (m *Passkeys) Add(ctx context.Context, p domain.Passkey) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add passkey: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[p.ID]; ok {
		return fmt.Errorf("add passkey: %w", domain.ErrConflict)
	}
	for _, old := range m.byID {
		if bytes.Equal(old.CredentialID, p.CredentialID) {
			return fmt.Errorf("add passkey: %w", domain.ErrConflict)
		}
	}
	m.byID[p.ID] = clonePasskey(p)
	return nil
}

// ByCredentialID finds a passkey by its authenticator's credential id.
func (m *Passkeys) ByCredentialID(ctx context.Context, credentialID []byte) (domain.Passkey, error) {
	if err := ctx.Err(); err != nil {
		return domain.Passkey{}, fmt.Errorf("passkey by credential id: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.byID {
		if bytes.Equal(p.CredentialID, credentialID) {
			return clonePasskey(p), nil
		}
	}
	return domain.Passkey{}, fmt.Errorf("passkey by credential id: %w", domain.ErrNotFound)
}

// HasAny reports whether the user has a passkey.
func (m *Passkeys) HasAny(ctx context.Context, userID string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("user has a passkey: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.byID {
		if p.UserID == userID {
			return true, nil
		}
	}
	return false, nil
}

// ByUser lists the user's passkeys, oldest first.
func (m *Passkeys) ByUser(ctx context.Context, userID string) ([]domain.Passkey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("passkeys by user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Passkey
	for _, p := range m.byID {
		if p.UserID == userID {
			out = append(out, clonePasskey(p))
		}
	}
	slices.SortFunc(out, func(a, b domain.Passkey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare([]byte(a.ID), []byte(b.ID))
	})
	return out, nil
}

// Use moves the signature counter forward, or reports a regression.
func (m *Passkeys) Use(ctx context.Context, id string, signCount uint32, credential []byte, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("use passkey: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	switch {
	case !ok:
		return fmt.Errorf("use passkey: %w", domain.ErrNotFound)
	case !domain.SignCountAdvances(p.SignCount, signCount):
		return fmt.Errorf("use passkey: sign count %d after %d: %w", signCount, p.SignCount, domain.ErrConflict)
	}
	p.SignCount, p.Credential, p.LastUsedAt = signCount, slices.Clone(credential), utc(at)
	m.byID[id] = p
	return nil
}

// Rename renames the user's passkey.
func (m *Passkeys) Rename(ctx context.Context, userID, id, name string) (domain.Passkey, error) {
	if err := ctx.Err(); err != nil {
		return domain.Passkey{}, fmt.Errorf("rename passkey: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	if !ok || p.UserID != userID {
		return domain.Passkey{}, fmt.Errorf("rename passkey: %w", domain.ErrNotFound)
	}
	p.Name = name
	m.byID[id] = p
	return clonePasskey(p), nil
}

// Delete removes the user's passkey.
func (m *Passkeys) Delete(ctx context.Context, userID, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.byID[id]
	if !ok || p.UserID != userID {
		return fmt.Errorf("delete passkey: %w", domain.ErrNotFound)
	}
	delete(m.byID, id)
	return nil
}

// DeleteByUser removes every passkey of the user.
func (m *Passkeys) DeleteByUser(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete passkeys: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, p := range m.byID {
		if p.UserID == userID {
			delete(m.byID, id)
		}
	}
	return nil
}
