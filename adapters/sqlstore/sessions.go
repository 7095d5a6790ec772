package sqlstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// purgeEvery spaces the clean-ups of expired sessions that Create runs in passing.
const purgeEvery = time.Minute

// Sessions is the SQL ports.SessionStore. Get is one indexed primary-key read; Rotate is one
// conditional UPDATE, so it is atomic across goroutines and instances without explicit locks.
// Expired sessions are removed by PurgeExpired, which Create also runs at most once a minute.
type Sessions struct {
	db        bun.IDB
	now       func() time.Time
	lastPurge *atomic.Int64 // unix nanoseconds of the last purge started by Create
}

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db. Get judges expiry by the wall clock; use
// WithClock to substitute another.
func NewSessions(db *DB) *Sessions {
	return &Sessions{db: db.bun, now: time.Now, lastPurge: new(atomic.Int64)}
}

// WithClock returns a copy of s that reads the time from c (Get has no time argument).
func (s *Sessions) WithClock(c ports.Clock) *Sessions {
	cp := *s
	cp.now = c.Now
	return &cp
}

// With returns a copy of s that runs its queries on idb, typically a bun.Tx.
func (s *Sessions) With(idb bun.IDB) *Sessions {
	cp := *s
	cp.db = idb
	return &cp
}

// Create inserts a new session; a taken id is domain.ErrConflict. Now and then it first deletes
// expired sessions.
func (s *Sessions) Create(ctx context.Context, sess domain.Session) error {
	now := s.now()
	if last := s.lastPurge.Load(); now.UnixNano()-last >= int64(purgeEvery) &&
		s.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		// Best effort: a failure here resurfaces on the insert, or is retried next time.
		_, _ = s.PurgeExpired(ctx, now)
	}
	row := sessionToRow(sess)
	if _, err := s.db.NewInsert().Model(&row).Exec(ctx); err != nil {
		return translate("create session", err)
	}
	return nil
}

// Get returns the live session id; a missing or expired one is domain.ErrNotFound.
func (s *Sessions) Get(ctx context.Context, id string) (domain.Session, error) {
	now := dbTime(s.now())
	var row sessionRow
	err := s.db.NewSelect().Model(&row).
		Where("s.id = ?", id).
		Where("s.idle_expires_at > ?", now).
		Where("s.abs_expires_at > ?", now).
		Scan(ctx)
	if err != nil {
		return domain.Session{}, translate("load session", err)
	}
	return row.toDomain(), nil
}

// Rotate rotates the refresh token of r.SessionID as ports.SessionStore describes. The rotation
// itself is a single UPDATE conditioned on the presented hash being current and the session
// live, so exactly one of any number of concurrent callers wins; the losers re-read the row and
// get GraceReplay, domain.ErrRefreshReuse (the session is then deleted) or domain.ErrNotFound.
func (s *Sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	now := dbTime(r.Now)
	if len(r.PresentedHash) == 0 {
		return 0, domain.Session{}, fmt.Errorf("rotate session: %w", domain.ErrNotFound)
	}
	idle := dbTime(r.Now.Add(r.IdleTTL))
	// A presented token can only stop being current, never become current again, so one retry
	// covers every interleaving; the loop bound is a guard, not a tuning knob.
	for range 3 {
		res, err := s.db.NewUpdate().Model((*sessionRow)(nil)).
			Set("refresh_hash = ?", r.NewHash).
			Set("prev_hash = ?", r.PresentedHash).
			Set("successor = ?", emptyAsNil(r.Successor)).
			Set("rotated_at = ?", now).
			Set("generation = generation + 1").
			Set("last_used_at = ?", now).
			Set("idle_expires_at = CASE WHEN abs_expires_at < ? THEN abs_expires_at ELSE ? END", idle, idle).
			Where("id = ?", r.SessionID).
			Where("refresh_hash = ?", r.PresentedHash).
			Where("idle_expires_at > ?", now).
			Where("abs_expires_at > ?", now).
			Exec(ctx)
		if err != nil {
			return 0, domain.Session{}, translate("rotate session", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, domain.Session{}, translate("rotate session", err)
		}
		var row sessionRow
		if err := s.db.NewSelect().Model(&row).Where("s.id = ?", r.SessionID).Scan(ctx); err != nil {
			return 0, domain.Session{}, translate("rotate session", err)
		}
		sess := row.toDomain()
		if n == 1 {
			return domain.Rotated, sess, nil
		}
		if !sess.Live(now) {
			return 0, domain.Session{}, fmt.Errorf("rotate session: %w", domain.ErrNotFound)
		}
		if subtle.ConstantTimeCompare(sess.RefreshHash, r.PresentedHash) == 1 {
			continue // rotated back under us is impossible; the row changed between the two reads
		}
		if len(sess.PrevHash) > 0 && subtle.ConstantTimeCompare(sess.PrevHash, r.PresentedHash) == 1 &&
			!now.After(sess.RotatedAt.Add(r.Grace)) {
			return domain.GraceReplay, sess, nil
		}
		if err := s.Delete(ctx, r.SessionID); err != nil {
			return 0, domain.Session{}, fmt.Errorf("revoke session after refresh reuse: %w", err)
		}
		return 0, domain.Session{ID: sess.ID, UserID: sess.UserID}, fmt.Errorf("rotate session: %w", domain.ErrRefreshReuse)
	}
	return 0, domain.Session{}, fmt.Errorf("rotate session %s: the session kept changing; try again: %w",
		r.SessionID, domain.ErrUnavailable)
}

// ListByUser returns the sessions of userID that are live at now, newest first.
func (s *Sessions) ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error) {
	t := dbTime(now)
	var rows []sessionRow
	err := s.db.NewSelect().Model(&rows).
		Where("s.user_id = ?", userID).
		Where("s.idle_expires_at > ?", t).
		Where("s.abs_expires_at > ?", t).
		OrderExpr("s.created_at DESC, s.id DESC").
		Scan(ctx)
	if err != nil {
		return nil, translate("list sessions", err)
	}
	out := make([]domain.Session, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// Delete removes session id; a missing one is not an error.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if _, err := s.db.NewDelete().Model((*sessionRow)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
		return translate("delete session", err)
	}
	return nil
}

// DeleteByUser removes every session of userID, expired ones included, and says how many.
func (s *Sessions) DeleteByUser(ctx context.Context, userID string) (int, error) {
	res, err := s.db.NewDelete().Model((*sessionRow)(nil)).Where("user_id = ?", userID).Exec(ctx)
	if err != nil {
		return 0, translate("delete sessions of user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate("delete sessions of user", err)
	}
	return int(n), nil
}

// SetRoles replaces the roles kept in every session of userID.
func (s *Sessions) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	_, err := s.db.NewUpdate().Model((*sessionRow)(nil)).
		Set("roles = ?", rolesToText(roles)).
		Where("user_id = ?", userID).
		Exec(ctx)
	if err != nil {
		return translate("set session roles", err)
	}
	return nil
}

// PurgeExpired deletes every session past its idle or absolute limit at now and says how many.
func (s *Sessions) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	t := dbTime(now)
	res, err := s.db.NewDelete().Model((*sessionRow)(nil)).
		WhereOr("idle_expires_at <= ?", t).
		WhereOr("abs_expires_at <= ?", t).
		Exec(ctx)
	if err != nil {
		return 0, translate("purge expired sessions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate("purge expired sessions", err)
	}
	return int(n), nil
}

// Name is the readiness label of the session store.
func (s *Sessions) Name() string { return "sessions" }

// Ping checks that the database behind the sessions answers; failures wrap domain.ErrUnavailable.
func (s *Sessions) Ping(ctx context.Context) error {
	var one int
	if err := s.db.NewRaw("SELECT 1").Scan(ctx, &one); err != nil {
		return fmt.Errorf("ping sessions: %w", unavailable(err))
	}
	return nil
}
