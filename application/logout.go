package application

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Logout ends sessions.
type Logout struct {
	sessions ports.SessionStore
	audit    *Auditor
	log      *slog.Logger
}

// NewLogout wires the logout use case.
func NewLogout(sessions ports.SessionStore, audit *Auditor, log *slog.Logger) *Logout {
	return &Logout{sessions: sessions, audit: audit, log: log}
}

// Session ends one session. Ending a session that is already gone is not an error.
func (l *Logout) Session(ctx context.Context, userID, sessionID string) error {
	if err := l.sessions.Delete(ctx, sessionID); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	l.log.InfoContext(ctx, "logout", "user_id", userID, "session_id", sessionID)
	l.audit.record(ctx, domain.EventLogout, userID, userID, "ok", "session="+sessionID)
	return nil
}

// ByRefreshToken ends the session a refresh token belongs to, when the token is its current
// one or the immediate predecessor. Anything else ends nothing and is not an error (logout is
// idempotent), so knowing a session id alone never ends a session.
func (l *Logout) ByRefreshToken(ctx context.Context, token string) error {
	sid, err := parseRefreshToken(token)
	if err != nil {
		return nil
	}
	s, err := l.sessions.Get(ctx, sid)
	if errors.Is(err, domain.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	h := hashRefreshToken(token)
	if subtle.ConstantTimeCompare(h, s.RefreshHash) != 1 && subtle.ConstantTimeCompare(h, s.PrevHash) != 1 {
		return nil
	}
	return l.Session(ctx, s.UserID, sid)
}

// All ends every session of a user.
func (l *Logout) All(ctx context.Context, userID string) error {
	n, err := l.sessions.DeleteByUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	l.log.InfoContext(ctx, "logout all", "user_id", userID, "sessions", n)
	l.audit.record(ctx, domain.EventLogoutAll, userID, userID, "ok", fmt.Sprintf("sessions=%d", n))
	return nil
}
