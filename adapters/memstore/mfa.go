package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// ChallengesModule provides Challenges as the ports.Challenges. cmd/portcullis includes it
// beside Module when PORTCULLIS_SESSION_STORE=memory.
var ChallengesModule = fx.Module("memstore-challenges",
	fx.Provide(fx.Annotate(NewChallenges, fx.As(new(ports.Challenges)))),
)

// TOTPFactors is an in-process ports.TOTPFactors: one factor per user under one mutex, which
// makes UseStep's compare-and-set atomic. Safe for concurrent use.
type TOTPFactors struct {
	mu     sync.Mutex
	byUser map[string]domain.TOTPFactor
}

var _ ports.TOTPFactors = (*TOTPFactors)(nil)

// NewTOTPFactors returns an empty TOTP factor store.
func NewTOTPFactors() *TOTPFactors { return &TOTPFactors{byUser: map[string]domain.TOTPFactor{}} }

func cloneFactor(f domain.TOTPFactor) domain.TOTPFactor {
	f.Secret = slices.Clone(f.Secret)
	f.CreatedAt, f.ConfirmedAt = utc(f.CreatedAt), utc(f.ConfirmedAt)
	return f
}

// Put stores f as the user's pending factor unless a confirmed one exists (domain.ErrConflict).
func (m *TOTPFactors) Put(ctx context.Context, f domain.TOTPFactor) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put TOTP factor: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byUser[f.UserID]; ok && old.Confirmed {
		return fmt.Errorf("put TOTP factor: %w", domain.ErrConflict)
	}
	c := cloneFactor(f)
	c.Confirmed, c.ConfirmedAt = false, time.Time{}
	m.byUser[f.UserID] = c
	return nil
}

// Get returns the user's factor.
func (m *TOTPFactors) Get(ctx context.Context, userID string) (domain.TOTPFactor, error) {
	if err := ctx.Err(); err != nil {
		return domain.TOTPFactor{}, fmt.Errorf("get TOTP factor: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.byUser[userID]
	if !ok {
		return domain.TOTPFactor{}, fmt.Errorf("get TOTP factor: %w", domain.ErrNotFound)
	}
	return cloneFactor(f), nil
}

// Confirm turns the pending factor with secret into a confirmed one.
func (m *TOTPFactors) Confirm(ctx context.Context, userID string, secret []byte, step int64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("confirm TOTP factor: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.byUser[userID]
	if !ok || f.Confirmed || !bytes.Equal(f.Secret, secret) {
		return fmt.Errorf("confirm TOTP factor: %w", domain.ErrNotFound)
	}
	f.Confirmed, f.ConfirmedAt, f.LastStep = true, utc(at), step
	m.byUser[userID] = f
	return nil
}

// UseStep moves the last accepted step forward, or reports a replay.
func (m *TOTPFactors) UseStep(ctx context.Context, userID string, step int64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("use TOTP step: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.byUser[userID]
	switch {
	case !ok || !f.Confirmed:
		return fmt.Errorf("use TOTP step: %w", domain.ErrNotFound)
	case step <= f.LastStep:
		return fmt.Errorf("use TOTP step: %w", domain.ErrConflict)
	}
	f.LastStep = step
	m.byUser[userID] = f
	return nil
}

// Delete removes the user's factor.
func (m *TOTPFactors) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete TOTP factor: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byUser, userID)
	return nil
}

// RecoveryCodes is an in-process ports.RecoveryCodes: each user's set of code hashes under one
// mutex. Safe for concurrent use.
type RecoveryCodes struct {
	mu     sync.Mutex
	byUser map[string]map[string]struct{}
}

var _ ports.RecoveryCodes = (*RecoveryCodes)(nil)

// NewRecoveryCodes returns an empty recovery-code store.
func NewRecoveryCodes() *RecoveryCodes {
	return &RecoveryCodes{byUser: map[string]map[string]struct{}{}}
}

// Replace drops the user's codes and keeps hashes.
func (m *RecoveryCodes) Replace(ctx context.Context, userID string, hashes [][]byte, _ time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	set := make(map[string]struct{}, len(hashes))
	for _, h := range hashes {
		set[string(h)] = struct{}{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byUser[userID] = set
	return nil
}

// Use removes one code.
func (m *RecoveryCodes) Use(ctx context.Context, userID string, hash []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	set := m.byUser[userID]
	if _, ok := set[string(hash)]; !ok {
		return fmt.Errorf("use recovery code: %w", domain.ErrNotFound)
	}
	delete(set, string(hash))
	return nil
}

// Count is how many codes the user has left.
func (m *RecoveryCodes) Count(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byUser[userID]), nil
}

// DeleteByUser drops every code of the user.
func (m *RecoveryCodes) DeleteByUser(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.byUser, userID)
	return nil
}

// challengeKey finds a challenge by purpose and hash: one of another purpose is not found.
type challengeKey struct {
	purpose domain.ChallengePurpose
	hash    string
}

// Challenges is an in-process ports.Challenges. Expired challenges behave as missing ones and
// are swept as Puts go by. Safe for concurrent use.
type Challenges struct {
	mu   sync.Mutex
	m    map[challengeKey]domain.Challenge
	now  func() time.Time
	puts int
}

var _ ports.Challenges = (*Challenges)(nil)

// NewChallenges returns an empty challenge store.
func NewChallenges() *Challenges {
	return &Challenges{m: map[challengeKey]domain.Challenge{}, now: time.Now}
}

// Put stores c.
func (m *Challenges) Put(ctx context.Context, c domain.Challenge) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	k := challengeKey{c.Purpose, string(c.Hash)}
	c.Hash, c.Data = slices.Clone(c.Hash), slices.Clone(c.Data)
	c.CreatedAt, c.ExpiresAt = utc(c.CreatedAt), utc(c.ExpiresAt)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.puts++; m.puts%sweepEvery == 0 {
		now := m.now()
		for k, old := range m.m {
			if !now.Before(old.ExpiresAt) {
				delete(m.m, k)
			}
		}
	}
	if _, ok := m.m[k]; ok {
		return fmt.Errorf("put challenge: %w", domain.ErrConflict)
	}
	m.m[k] = c
	return nil
}

// Take removes and returns a live challenge.
func (m *Challenges) Take(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return domain.Challenge{}, fmt.Errorf("take challenge: %w", err)
	}
	k := challengeKey{purpose, string(hash)}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[k]
	if !ok {
		return domain.Challenge{}, fmt.Errorf("take challenge: %w", domain.ErrNotFound)
	}
	delete(m.m, k)
	if !now.Before(c.ExpiresAt) {
		return domain.Challenge{}, fmt.Errorf("take challenge: %w", domain.ErrNotFound)
	}
	return c, nil
}

// Get returns a live challenge and keeps it.
func (m *Challenges) Get(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return domain.Challenge{}, fmt.Errorf("get challenge: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[challengeKey{purpose, string(hash)}]
	if !ok || !now.Before(c.ExpiresAt) {
		return domain.Challenge{}, fmt.Errorf("get challenge: %w", domain.ErrNotFound)
	}
	c.Hash, c.Data = slices.Clone(c.Hash), slices.Clone(c.Data)
	return c, nil
}
