package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// sweepEvery is how many Creates pass between two sweeps of expired sessions, so that a
// long-running process does not keep dead sessions forever; the cost is amortised O(1).
const sweepEvery = 256

// Sessions is an in-process ports.SessionStore: a map of sessions under one RWMutex, with a
// per-user index. Safe for concurrent use; Rotate is atomic because it runs under the write
// lock. Expired sessions behave exactly as missing ones and are swept away as Creates go by.
type Sessions struct {
	mu      sync.RWMutex
	byID    map[string]*domain.Session
	byUser  map[string]map[string]struct{}
	creates int
}

// NewSessions returns an empty session store. Like every ports.SessionStore it keeps no clock:
// each method judges expiry at the time its caller passes.
func NewSessions() *Sessions {
	return &Sessions{
		byID:   make(map[string]*domain.Session),
		byUser: make(map[string]map[string]struct{}),
	}
}

// Create stores s. A session with the same ID live at now is domain.ErrConflict.
func (m *Sessions) Create(ctx context.Context, s domain.Session, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	c := cloneSession(s)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byID[s.ID]; ok {
		if old.Live(now) {
			return fmt.Errorf("create session %s: %w", s.ID, domain.ErrConflict)
		}
		m.remove(old)
	}
	m.byID[c.ID] = &c
	ids := m.byUser[c.UserID]
	if ids == nil {
		ids = make(map[string]struct{})
		m.byUser[c.UserID] = ids
	}
	ids[c.ID] = struct{}{}
	if m.creates++; m.creates%sweepEvery == 0 {
		m.sweep(now)
	}
	return nil
}

// Get returns the session id; a missing one, or one dead at now, is domain.ErrNotFound.
func (m *Sessions) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return domain.Session{}, fmt.Errorf("get session: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.byID[id]
	if !ok || !s.Live(now) {
		return domain.Session{}, fmt.Errorf("get session %s: %w", id, domain.ErrNotFound)
	}
	return cloneSession(*s), nil
}

// Rotate rotates the refresh token of r.SessionID atomically, as ports.SessionStore documents:
// it applies domain.Session.Rotate under the write lock and stores what the rule returns.
// Expiry is judged at r.Now.
func (m *Sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return 0, domain.Session{}, fmt.Errorf("rotate session: %w", err)
	}
	r.Now = r.Now.UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[r.SessionID]
	if !ok {
		return 0, domain.Session{}, fmt.Errorf("rotate session %s: %w", r.SessionID, domain.ErrNotFound)
	}
	// The rule is domain.Session.Rotate; the write lock makes its compare-and-set trivial.
	outcome, next, err := s.Rotate(r)
	switch {
	case errors.Is(err, domain.ErrRefreshReuse):
		m.remove(s)
		return 0, next, fmt.Errorf("rotate session %s: %w", r.SessionID, err)
	case err != nil:
		return 0, domain.Session{}, fmt.Errorf("rotate session %s: %w", r.SessionID, err)
	case outcome == domain.Rotated:
		*s = next
	}
	return outcome, cloneSession(*s), nil
}

// ListByUser returns the sessions of userID live at now, newest first (ties by ID, descending).
func (m *Sessions) ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	m.mu.RLock()
	out := make([]domain.Session, 0, len(m.byUser[userID]))
	for id := range m.byUser[userID] {
		if s := m.byID[id]; s.Live(now) {
			out = append(out, cloneSession(*s))
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b domain.Session) int { return newestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	return out, nil
}

// Delete removes session id; a missing one is not an error.
func (m *Sessions) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.byID[id]; ok {
		m.remove(s)
	}
	return nil
}

// DeleteByUser removes every session of userID and returns how many of them were live at now.
func (m *Sessions) DeleteByUser(ctx context.Context, userID string, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("delete sessions: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id := range m.byUser[userID] {
		if m.byID[id].Live(now) {
			n++
		}
		delete(m.byID, id)
	}
	delete(m.byUser, userID)
	return n, nil
}

// SetRoles replaces the roles kept in every session of userID.
func (m *Sessions) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set session roles: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.byUser[userID] {
		m.byID[id].Roles = slices.Clone(roles)
	}
	return nil
}

// remove drops s from both maps; the caller holds the write lock.
func (m *Sessions) remove(s *domain.Session) {
	delete(m.byID, s.ID)
	if ids := m.byUser[s.UserID]; ids != nil {
		delete(ids, s.ID)
		if len(ids) == 0 {
			delete(m.byUser, s.UserID)
		}
	}
}

// sweep drops every session dead at now; the caller holds the write lock.
func (m *Sessions) sweep(now time.Time) {
	for _, s := range m.byID {
		if !s.Live(now) {
			m.remove(s)
		}
	}
}

// cloneSession copies s so that the caller and the store never share a slice
// (domain.Session.Clone); times are UTC, as every other store returns them.
func cloneSession(s domain.Session) domain.Session {
	s = s.Clone()
	s.RotatedAt = utc(s.RotatedAt)
	s.CreatedAt = utc(s.CreatedAt)
	s.LastUsedAt = utc(s.LastUsedAt)
	s.IdleExpiresAt = utc(s.IdleExpiresAt)
	s.AbsExpiresAt = utc(s.AbsExpiresAt)
	return s
}

// utc converts t to UTC, leaving the zero time as it is.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
