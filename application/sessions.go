package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// SessionView is one of a user's sessions as the user sees it.
type SessionView struct {
	ID         string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
	Current    bool
	AMR        []string // the methods the session was opened with (domain.AMRPassword ...)
}

// Sessions lets users list and end their own sessions.
type Sessions struct {
	sessions ports.SessionStore
	clock    ports.Clock
	audit    *Auditor
}

// NewSessions wires the sessions use case.
func NewSessions(sessions ports.SessionStore, clock ports.Clock, audit *Auditor) *Sessions {
	return &Sessions{sessions: sessions, clock: clock, audit: audit}
}

// List returns the live sessions of userID, newest first, marking currentID.
func (s *Sessions) List(ctx context.Context, userID, currentID string) ([]SessionView, error) {
	list, err := s.sessions.ListByUser(ctx, userID, s.clock.Now())
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]SessionView, len(list))
	for i, x := range list {
		out[i] = SessionView{ID: x.ID, CreatedAt: x.CreatedAt, LastUsedAt: x.LastUsedAt, ExpiresAt: x.ExpiresAt(),
			IP: x.IP, UserAgent: x.UserAgent, Current: x.ID == currentID, AMR: x.AMR}
	}
	return out, nil
}

// Revoke ends one of the user's own sessions. Another user's session is domain.ErrNotFound,
// exactly as a missing one, so ids of others' sessions cannot be probed.
func (s *Sessions) Revoke(ctx context.Context, userID, sessionID string) error {
	x, err := s.sessions.Get(ctx, sessionID, s.clock.Now())
	if errors.Is(err, domain.ErrNotFound) || (err == nil && x.UserID != userID) {
		return domain.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if err := s.sessions.Delete(ctx, sessionID); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	s.audit.record(ctx, domain.EventSessionRevoke, userID, userID, "ok", "session="+sessionID)
	return nil
}
