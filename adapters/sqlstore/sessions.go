package sqlstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// Sessions is the SQL ports.SessionStore. Get is one indexed primary-key read; Rotate is a read
// and one conditional UPDATE (compare-and-set on the refresh hash), so it is atomic across
// goroutines and instances without explicit locks. Expired sessions are removed by
// PurgeExpired, which Module runs in the background once a minute.
type Sessions struct {
	db  bun.IDB
	now func() time.Time
}

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db. Get judges expiry by the wall clock; use
// WithClock to substitute another.
func NewSessions(db *DB) *Sessions {
	return &Sessions{db: db.bun, now: time.Now}
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

// Create inserts a new session; a taken id is domain.ErrConflict.
func (s *Sessions) Create(ctx context.Context, sess domain.Session) error {
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

// Rotate rotates the refresh token of r.SessionID as ports.SessionStore describes. It is a
// compare-and-set: the row is read, the presented hash classified in Go (current, predecessor,
// one of the retired ring, or unknown), and a rotation written by one UPDATE conditioned on the
// refresh hash still being the presented one. Of any number of concurrent callers exactly one
// such UPDATE changes the row; the others see no row affected, read the row again and classify
// the presented hash once more (by then the predecessor: GraceReplay). A retired hash (the
// predecessor after the grace window, or one in the ring) deletes the session and is
// domain.ErrRefreshReuse; a hash the session never issued (or retired beyond the ring) is
// domain.ErrNotFound and the row is left as it is.
func (s *Sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	now := dbTime(r.Now)
	if len(r.PresentedHash) == 0 {
		return 0, domain.Session{}, fmt.Errorf("rotate session: %w", domain.ErrNotFound)
	}
	// A presented token can only stop being current, never become current again, so one retry
	// covers every interleaving; the loop bound is a guard, not a tuning knob.
	for range 3 {
		var row sessionRow
		if err := s.db.NewSelect().Model(&row).Where("s.id = ?", r.SessionID).Scan(ctx); err != nil {
			return 0, domain.Session{}, translate("rotate session", err)
		}
		sess := row.toDomain()
		if !sess.Live(now) {
			return 0, domain.Session{}, fmt.Errorf("rotate session: %w", domain.ErrNotFound)
		}
		switch {
		case equalHash(r.PresentedHash, sess.RefreshHash):
			next := sess
			next.Retired = domain.RetireHash(sess.Retired, sess.PrevHash)
			next.PrevHash = sess.RefreshHash
			next.RefreshHash = r.NewHash
			next.Successor = emptyAsNil(r.Successor)
			next.RotatedAt = now
			next.LastUsedAt = now
			next.Generation = sess.Generation + 1
			next.IdleExpiresAt = dbTime(r.Now.Add(r.IdleTTL))
			if next.IdleExpiresAt.After(sess.AbsExpiresAt) {
				next.IdleExpiresAt = sess.AbsExpiresAt
			}
			res, err := s.db.NewUpdate().Model((*sessionRow)(nil)).
				Set("refresh_hash = ?", next.RefreshHash).
				Set("prev_hash = ?", next.PrevHash).
				Set("retired = ?", next.Retired).
				Set("successor = ?", next.Successor).
				Set("rotated_at = ?", now).
				Set("generation = generation + 1").
				Set("last_used_at = ?", now).
				Set("idle_expires_at = ?", next.IdleExpiresAt).
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
			if n == 1 {
				return domain.Rotated, next, nil
			}
			continue // another caller rotated first (or the row went): classify again
		case equalHash(r.PresentedHash, sess.PrevHash) && !now.After(sess.RotatedAt.Add(r.Grace)):
			return domain.GraceReplay, sess, nil
		case equalHash(r.PresentedHash, sess.PrevHash) || domain.RetiredContains(sess.Retired, r.PresentedHash):
			// A token this session issued and retired, presented again: revoke.
			if err := s.Delete(ctx, r.SessionID); err != nil {
				return 0, domain.Session{}, fmt.Errorf("revoke session after refresh reuse: %w", err)
			}
			return 0, domain.Session{ID: sess.ID, UserID: sess.UserID}, fmt.Errorf("rotate session: %w", domain.ErrRefreshReuse)
		default:
			// Not a token of this session (forged with a known session id, or retired beyond
			// the ring): refused, and the session is left alone.
			return 0, domain.Session{}, fmt.Errorf("rotate session: unknown refresh token: %w", domain.ErrNotFound)
		}
	}
	return 0, domain.Session{}, fmt.Errorf("rotate session %s: the session kept changing; try again: %w",
		r.SessionID, domain.ErrUnavailable)
}

// equalHash compares a presented hash with a stored one in constant time. An empty stored hash
// (no predecessor yet) never matches.
func equalHash(presented, stored []byte) bool {
	return len(stored) > 0 && subtle.ConstantTimeCompare(presented, stored) == 1
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

// DeleteByUser removes every session of userID, expired ones included, and says how many live
// ones it removed (live by the store's clock, as Get judges): the live sessions are deleted
// first, counted, then whatever expired ones remain.
func (s *Sessions) DeleteByUser(ctx context.Context, userID string) (int, error) {
	now := dbTime(s.now())
	res, err := s.db.NewDelete().Model((*sessionRow)(nil)).
		Where("user_id = ?", userID).
		Where("idle_expires_at > ?", now).
		Where("abs_expires_at > ?", now).
		Exec(ctx)
	if err != nil {
		return 0, translate("delete sessions of user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate("delete sessions of user", err)
	}
	if _, err := s.db.NewDelete().Model((*sessionRow)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
		return int(n), translate("delete expired sessions of user", err)
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
