package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// userPurpose identifies the one live token a user may hold for a purpose.
type userPurpose struct {
	userID  string
	purpose domain.TokenPurpose
}

// OneTimeTokens is an in-process ports.OneTimeTokens: a map from hash to token under one mutex,
// with the one token of each user and purpose indexed (Create supersedes the others). Consume
// is atomic because it runs under the lock. Expired tokens behave exactly as missing ones and
// are swept away as Creates go by. Safe for concurrent use.
type OneTimeTokens struct {
	mu      sync.Mutex
	byHash  map[string]domain.OneTimeToken
	latest  map[userPurpose]string // the hash of each user's live token of each purpose
	creates int
}

var _ ports.OneTimeTokens = (*OneTimeTokens)(nil)

// NewOneTimeTokens returns an empty one-time-token store.
func NewOneTimeTokens() *OneTimeTokens {
	return &OneTimeTokens{
		byHash: make(map[string]domain.OneTimeToken),
		latest: make(map[userPurpose]string),
	}
}

// Create stores t and deletes every earlier token of t.UserID and t.Purpose. A hash already
// held by a token of another user or purpose is domain.ErrConflict and changes nothing (as the
// SQL store's primary key makes it).
func (m *OneTimeTokens) Create(ctx context.Context, t domain.OneTimeToken) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create one-time token: %w", err)
	}
	c := cloneToken(t)
	up := userPurpose{c.UserID, c.Purpose}
	m.mu.Lock()
	defer m.mu.Unlock()
	if held, ok := m.byHash[string(c.Hash)]; ok && (held.UserID != c.UserID || held.Purpose != c.Purpose) {
		return fmt.Errorf("create one-time token: %w", domain.ErrConflict)
	}
	if old, ok := m.latest[up]; ok {
		delete(m.byHash, old)
	}
	m.byHash[string(c.Hash)] = c
	m.latest[up] = string(c.Hash)
	if m.creates++; m.creates%sweepEvery == 0 {
		m.sweep(c.CreatedAt)
	}
	return nil
}

// Consume deletes and returns the token with hash and purpose if it is unexpired at now; any
// other case is domain.ErrNotFound, and a token of another purpose is left in place.
func (m *OneTimeTokens) Consume(ctx context.Context, hash []byte, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	if err := ctx.Err(); err != nil {
		return domain.OneTimeToken{}, fmt.Errorf("consume one-time token: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.byHash[string(hash)]
	if !ok || t.Purpose != purpose || !t.ExpiresAt.After(now) {
		return domain.OneTimeToken{}, fmt.Errorf("consume one-time token: %w", domain.ErrNotFound)
	}
	m.remove(t)
	return cloneToken(t), nil
}

// DeleteByUser removes every token of userID.
func (m *OneTimeTokens) DeleteByUser(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete one-time tokens of user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for up, h := range m.latest {
		if up.userID == userID {
			delete(m.byHash, h)
			delete(m.latest, up)
		}
	}
	return nil
}

// DeleteByUserPurpose removes userID's token of purpose.
func (m *OneTimeTokens) DeleteByUserPurpose(ctx context.Context, userID string, purpose domain.TokenPurpose) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete one-time tokens of user: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	up := userPurpose{userID, purpose}
	if h, ok := m.latest[up]; ok {
		delete(m.byHash, h)
		delete(m.latest, up)
	}
	return nil
}

// remove drops t and its index entry; the caller holds mu.
func (m *OneTimeTokens) remove(t domain.OneTimeToken) {
	delete(m.byHash, string(t.Hash))
	up := userPurpose{t.UserID, t.Purpose}
	if m.latest[up] == string(t.Hash) {
		delete(m.latest, up)
	}
}

// sweep drops every token expired at now; the caller holds mu.
func (m *OneTimeTokens) sweep(now time.Time) {
	for _, t := range m.byHash {
		if !t.ExpiresAt.After(now) {
			m.remove(t)
		}
	}
}

func cloneToken(t domain.OneTimeToken) domain.OneTimeToken {
	t.Hash = slices.Clone(t.Hash)
	return t
}
