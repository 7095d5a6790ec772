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
	auth     *Authenticate
	clock    ports.Clock
	audit    *Auditor
	log      *slog.Logger
}

// NewLogout wires the logout use case.
func NewLogout(sessions ports.SessionStore, auth *Authenticate, clock ports.Clock, audit *Auditor, log *slog.Logger) *Logout {
	return &Logout{sessions: sessions, auth: auth, clock: clock, audit: audit, log: log}
}

// LogoutInput is a logout request: an access token, a refresh token, or both (either may be "").
type LogoutInput struct {
	AccessToken  string
	RefreshToken string
}

// Handle ends the session the tokens belong to: the access token's session, and the refresh
// token's when it is that session's current or previous token. Missing, invalid or expired
// tokens end nothing and are not errors (logout is idempotent); only a store that cannot be
// reached is, since then nothing could be revoked. It returns the caller when the access token
// was valid (zero Principal otherwise).
func (l *Logout) Handle(ctx context.Context, in LogoutInput) (Principal, error) {
	var p Principal
	if in.AccessToken != "" {
		var err error
		p, err = l.auth.Handle(ctx, in.AccessToken)
		switch {
		case err == nil:
			if err := l.Session(ctx, p.UserID, p.SessionID); err != nil {
				return p, err
			}
		case !errors.Is(err, domain.ErrUnauthenticated):
			return Principal{}, err
		}
	}
	if in.RefreshToken != "" {
		if err := l.ByRefreshToken(ctx, in.RefreshToken); err != nil {
			return p, err
		}
	}
	return p, nil
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
	s, err := l.sessions.Get(ctx, sid, l.clock.Now())
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
	n, err := l.sessions.DeleteByUser(ctx, userID, l.clock.Now())
	if err != nil {
		return fmt.Errorf("delete sessions: %w", err)
	}
	l.log.InfoContext(ctx, "logout all", "user_id", userID, "sessions", n)
	l.audit.record(ctx, domain.EventLogoutAll, userID, userID, "ok", fmt.Sprintf("sessions=%d", n))
	return nil
}
