package application

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    string
	SessionID string
	Roles     []domain.Role
	AMR       []string // how the session was authenticated (domain.AMRPassword, AMROTP, AMRHardware)
}

// MultiFactor reports whether the caller's session was opened with a second factor.
func (p Principal) MultiFactor() bool { return domain.MultiFactor(p.AMR) }

// HasRole reports whether the caller holds r.
func (p Principal) HasRole(r domain.Role) bool { return domain.HasRole(p.Roles, r) }

// Authenticate turns an access token into a Principal. It is the hot path: one signature check
// and, in strict mode, one session-store read; never the user table.
type Authenticate struct {
	verifier ports.TokenVerifier
	sessions ports.SessionStore
	clock    ports.Clock
	settings Settings
}

// NewAuthenticate wires the authenticate use case.
func NewAuthenticate(verifier ports.TokenVerifier, sessions ports.SessionStore, clock ports.Clock, settings Settings) *Authenticate {
	return &Authenticate{verifier: verifier, sessions: sessions, clock: clock, settings: settings}
}

// Handle verifies token. In strict mode the session must be live and the roles are the
// session's (so a role change or revocation is seen at once); otherwise they are the token's.
// Invalid tokens and dead sessions are domain.ErrUnauthenticated; an unreachable session
// store is an error wrapping domain.ErrUnavailable, never a pass.
func (a *Authenticate) Handle(ctx context.Context, token string) (Principal, error) {
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return Principal{}, domain.ErrUnauthenticated
	}
	p := Principal{UserID: claims.Subject, SessionID: claims.SessionID, Roles: claims.Roles, AMR: claims.AMR}
	if !a.settings.Strict {
		return p, nil
	}
	s, err := a.sessions.Get(ctx, claims.SessionID, a.clock.Now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return Principal{}, domain.ErrUnauthenticated
	case err != nil:
		return Principal{}, fmt.Errorf("load session: %w", err)
	case s.UserID != claims.Subject:
		return Principal{}, domain.ErrUnauthenticated
	}
	p.Roles, p.AMR = s.Roles, s.AMR
	return p, nil
}
