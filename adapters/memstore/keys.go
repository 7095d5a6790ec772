package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// Keys is an in-process ports.KeyStore, safe for concurrent use. Adding a key whose ID is taken
// is domain.ErrConflict; retiring or deleting a missing one is domain.ErrNotFound.
type Keys struct {
	mu   sync.RWMutex
	keys map[string]domain.SigningKey
}

// NewKeys returns an empty key store.
func NewKeys() *Keys {
	return &Keys{keys: make(map[string]domain.SigningKey)}
}

// Keys returns every key, newest (by CreatedAt, then ID) first.
func (m *Keys) Keys(ctx context.Context) ([]domain.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	m.mu.RLock()
	out := make([]domain.SigningKey, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, cloneKey(k))
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b domain.SigningKey) int { return newestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	return out, nil
}

// Add stores k; a taken ID is domain.ErrConflict.
func (m *Keys) Add(ctx context.Context, k domain.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return fmt.Errorf("add key %s: %w", k.ID, domain.ErrConflict)
	}
	m.keys[k.ID] = cloneKey(k)
	return nil
}

// Retire marks key id retired at at; a missing key is domain.ErrNotFound.
func (m *Keys) Retire(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retire key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return fmt.Errorf("retire key %s: %w", id, domain.ErrNotFound)
	}
	k.RetiredAt = at
	m.keys[id] = k
	return nil
}

// Delete removes key id for good; a missing key is domain.ErrNotFound.
func (m *Keys) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[id]; !ok {
		return fmt.Errorf("delete key %s: %w", id, domain.ErrNotFound)
	}
	delete(m.keys, id)
	return nil
}

func cloneKey(k domain.SigningKey) domain.SigningKey {
	k.Private = slices.Clone(k.Private)
	return k
}
