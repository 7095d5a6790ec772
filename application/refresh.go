package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Refresh rotates a refresh token and mints a new access token. It never reads the user table:
// the roles come from the session, which role changes keep in step.
type Refresh struct {
	sessions ports.SessionStore
	tokens   *tokenMinter
	clock    ports.Clock
	settings Settings
	audit    *Auditor
	log      *slog.Logger
}

// NewRefresh wires the refresh use case.
func NewRefresh(sessions ports.SessionStore, issuer ports.TokenIssuer, clock ports.Clock, ids ports.IDSource, settings Settings, audit *Auditor, log *slog.Logger) *Refresh {
	return &Refresh{sessions: sessions, clock: clock, settings: settings, audit: audit, log: log,
		tokens: &tokenMinter{issuer: issuer, ids: ids, ttl: settings.AccessTTL}}
}

// Handle rotates token. A malformed, unknown or expired token is domain.ErrInvalidRefreshToken
// (which is domain.ErrUnauthenticated); a retired one revokes its session and is also
// domain.ErrRefreshReuse. The immediate predecessor of
// the current token, presented within the grace window, returns the same successor.
func (r *Refresh) Handle(ctx context.Context, token string) (TokensOutput, error) {
	sid, err := parseRefreshToken(token)
	if err != nil {
		return TokensOutput{}, domain.ErrInvalidRefreshToken
	}
	successor, err := newRefreshToken(sid)
	if err != nil {
		return TokensOutput{}, fmt.Errorf("new refresh token: %w", err)
	}
	sealed, err := sealSuccessor(token, successor)
	if err != nil {
		return TokensOutput{}, fmt.Errorf("seal successor: %w", err)
	}
	now := r.clock.Now()
	outcome, sess, err := r.sessions.Rotate(ctx, domain.Rotation{
		SessionID: sid, PresentedHash: hashRefreshToken(token), NewHash: hashRefreshToken(successor),
		Successor: sealed, Now: now, Grace: r.settings.RefreshGrace, IdleTTL: r.settings.SessionIdle,
	})
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return TokensOutput{}, domain.ErrInvalidRefreshToken
	case errors.Is(err, domain.ErrRefreshReuse):
		r.log.WarnContext(ctx, "refresh token reuse; session revoked", "session_id", sid)
		r.audit.record(ctx, domain.EventRefreshReuse, "", sess.UserID, "session_revoked", "session="+sid)
		return TokensOutput{}, fmt.Errorf("%w: %w", domain.ErrInvalidRefreshToken, err)
	case err != nil:
		return TokensOutput{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if outcome == domain.GraceReplay {
		if successor, err = unsealSuccessor(token, sess.Successor); err != nil {
			return TokensOutput{}, domain.ErrInvalidRefreshToken
		}
	}
	return r.tokens.mint(ctx, now, sess, successor)
}
