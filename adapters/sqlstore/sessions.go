package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// Sessions is the SQL ports.SessionStore. Get is one indexed primary-key read; Rotate is a read
// and one conditional UPDATE (compare-and-set on the refresh hash), so it is atomic across
// goroutines and instances without explicit locks (on SQLite and PostgreSQL the UPDATEs of
// concurrent rotations share one transaction: groupcommit.go). Expired sessions are removed by
// PurgeExpired, which Module runs in the background once a minute.
type Sessions struct {
	db bun.IDB

	byID, swapStmt *prepared                  // SQLite only (prepared.go)
	swaps          atomic.Pointer[swapRounds] // SQLite only, on swapStmt (groupcommit.go)
	pgSwaps        *swapRounds                // PostgreSQL only (groupcommit.go)
}

var _ ports.SessionStore = (*Sessions)(nil)

// NewSessions returns the session store of db. Like every ports.SessionStore it keeps no
// clock: each method judges expiry at the time its caller passes.
func NewSessions(db *DB) *Sessions {
	s := &Sessions{db: db.bun, byID: newPrepared(sessionByIDSQL), swapStmt: newPrepared(sessionSwapSQL)}
	if db.kind == Postgres {
		s.pgSwaps = newSwapRounds(db.bun.DB, nil)
	}
	return s
}

// The texts of rotate's read and of swap, prepared on SQLite.
func sessionByIDSQL(db *bun.DB) string {
	return db.NewSelect().Model((*sessionRow)(nil)).Where("s.id = ?", bun.Safe("?")).String()
}

func sessionSwapSQL(db *bun.DB) string {
	q := bun.Safe("?")
	return db.NewUpdate().Model((*sessionRow)(nil)).
		Set("refresh_hash = ?", q).Set("prev_hash = ?", q).Set("retired = ?", q).Set("successor = ?", q).
		Set("rotated_at = ?", q).Set("generation = ?", q).Set("last_used_at = ?", q).Set("idle_expires_at = ?", q).
		Where("id = ?", q).Where("refresh_hash = ?", q).Where("idle_expires_at > ?", q).Where("abs_expires_at > ?", q).
		String()
}

// Create inserts a new session; a taken id is domain.ErrConflict, whether or not its session
// is live at now (PurgeExpired frees the ids of dead ones).
func (s *Sessions) Create(ctx context.Context, sess domain.Session, _ time.Time) error {
	row := sessionToRow(sess)
	if _, err := s.db.NewInsert().Model(&row).Exec(ctx); err != nil {
		return translate("create session", err)
	}
	return nil
}

// Get returns session id if it is live at now; a missing or expired one is domain.ErrNotFound.
func (s *Sessions) Get(ctx context.Context, id string, at time.Time) (domain.Session, error) {
	now := dbTime(at)
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
// compare-and-set: the row is read, domain.Session.Rotate decides, and a rotation is written by
// one UPDATE conditioned on the refresh hash still being the presented one. Of any number of
// concurrent callers exactly one such UPDATE changes the row; the others see no row affected,
// read the row again and are decided once more (by then the presented hash is the predecessor:
// GraceReplay). A reuse deletes the session.
//
// On MariaDB Galera Cluster the UPDATE can lose certification to a rotation committed through
// another node (1213); the whole read-decide-write runs again (retryConflict) and then finds
// the presented token retired.
func (s *Sessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	var (
		outcome domain.RotateOutcome
		sess    domain.Session
		rerr    error
	)
	err := retryConflict(ctx, s.db, func() error {
		outcome, sess, rerr = s.rotate(ctx, r)
		return rerr
	})
	if err != nil && isTxConflict(err) {
		return 0, domain.Session{}, translate("rotate session", err)
	}
	return outcome, sess, rerr
}

// rotate is one attempt of Rotate; a certification or deadlock failure is returned untranslated
// for Rotate to retry.
func (s *Sessions) rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	r.Now = dbTime(r.Now)
	// A presented token can only stop being current, never become current again, so one retry
	// covers every interleaving; the loop bound is a guard, not a tuning knob.
	for range 3 {
		row, err := s.rotateRead(ctx, r.SessionID)
		if err != nil {
			return 0, domain.Session{}, translate("rotate session", err)
		}
		outcome, next, err := row.toDomain().Rotate(r)
		switch {
		case errors.Is(err, domain.ErrRefreshReuse):
			if err := s.delete(ctx, r.SessionID); isTxConflict(err) {
				return 0, domain.Session{}, err
			} else if err != nil {
				return 0, domain.Session{}, fmt.Errorf("revoke session after refresh reuse: %w", err)
			}
			return 0, next, fmt.Errorf("rotate session: %w", err)
		case err != nil:
			return 0, domain.Session{}, fmt.Errorf("rotate session: %w", err)
		case outcome == domain.GraceReplay:
			return outcome, next, nil
		}
		next.IdleExpiresAt = dbTime(next.IdleExpiresAt)
		swapped, err := s.swap(ctx, r.PresentedHash, next)
		if err != nil {
			return 0, domain.Session{}, err
		}
		if swapped {
			return domain.Rotated, next, nil
		}
		// Another caller rotated first (or the row went): decide again.
	}
	return 0, domain.Session{}, fmt.Errorf("rotate session %s: the session kept changing; try again: %w",
		r.SessionID, domain.ErrUnavailable)
}

// swap writes the rotated session next only if its row still holds the presented refresh hash
// and is live at next.RotatedAt, and reports whether it did.
func (s *Sessions) swap(ctx context.Context, presented []byte, next domain.Session) (bool, error) {
	var n int64
	db, stmt, err := s.swapStmt.get(ctx, s.db)
	switch {
	case err != nil:
	case stmt != nil:
		n, err = s.swapRounds(db, stmt).exec(ctx, argBytes(next.RefreshHash), argBytes(next.PrevHash), argBytes(next.Retired),
			argBytes(next.Successor), argTime(next.RotatedAt), next.Generation, argTime(next.LastUsedAt),
			argTime(next.IdleExpiresAt), next.ID, argBytes(presented), argTime(next.RotatedAt), argTime(next.RotatedAt))
	case s.pgSwaps != nil:
		n, err = s.pgSwaps.execQuery(ctx, next.ID, s.swapQuery(presented, next).String())
	default:
		var res sql.Result
		if res, err = s.swapQuery(presented, next).Exec(ctx); err == nil {
			n, err = res.RowsAffected()
		}
	}
	if isTxConflict(err) {
		return false, err // for Rotate to run again
	}
	if err != nil {
		return false, translate("rotate session", err)
	}
	return n == 1, nil
}

// swapRounds returns the group commit of swaps on SQLite's prepared swap statement.
func (s *Sessions) swapRounds(db *bun.DB, stmt *sql.Stmt) *swapRounds {
	if r := s.swaps.Load(); r == nil || r.stmt != stmt {
		s.swaps.CompareAndSwap(r, newSwapRounds(db.DB, stmt))
	}
	return s.swaps.Load()
}

// rotateRead reads the row of session id, whatever its limits.
func (s *Sessions) rotateRead(ctx context.Context, id string) (sessionRow, error) {
	var row sessionRow
	err := s.byID.scan(ctx, s.db, &row, func() error {
		return s.db.NewSelect().Model(&row).Where("s.id = ?", id).Scan(ctx)
	}, id)
	return row, err
}

// swapQuery is swap's statement as a Bun query (MySQL, PostgreSQL).
func (s *Sessions) swapQuery(presented []byte, next domain.Session) *bun.UpdateQuery {
	return s.db.NewUpdate().Model((*sessionRow)(nil)).
		Set("refresh_hash = ?", next.RefreshHash).
		Set("prev_hash = ?", next.PrevHash).
		Set("retired = ?", next.Retired).
		Set("successor = ?", next.Successor).
		Set("rotated_at = ?", next.RotatedAt).
		Set("generation = ?", next.Generation).
		Set("last_used_at = ?", next.LastUsedAt).
		Set("idle_expires_at = ?", next.IdleExpiresAt).
		Where("id = ?", next.ID).
		Where("refresh_hash = ?", presented).
		Where("idle_expires_at > ?", next.RotatedAt).
		Where("abs_expires_at > ?", next.RotatedAt)
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
	if err := retryConflict(ctx, s.db, func() error { return s.delete(ctx, id) }); err != nil {
		return translate("delete session", err)
	}
	return nil
}

// delete is one attempt of Delete, its error untranslated.
func (s *Sessions) delete(ctx context.Context, id string) error {
	_, err := s.db.NewDelete().Model((*sessionRow)(nil)).Where("id = ?", id).Exec(ctx)
	return err
}

// DeleteByUser removes every session of userID, expired ones included, and says how many live
// ones it removed (live at at, as Get judges): the live sessions are deleted first, counted,
// then whatever expired ones remain.
func (s *Sessions) DeleteByUser(ctx context.Context, userID string, at time.Time) (int, error) {
	now := dbTime(at)
	n, err := execCount(ctx, s.db, "delete sessions of user", s.db.NewDelete().Model((*sessionRow)(nil)).
		Where("user_id = ?", userID).
		Where("idle_expires_at > ?", now).
		Where("abs_expires_at > ?", now))
	if err != nil {
		return 0, err
	}
	if _, err := execRetry(ctx, s.db, s.db.NewDelete().Model((*sessionRow)(nil)).Where("user_id = ?", userID)); err != nil {
		return n, translate("delete expired sessions of user", err)
	}
	return n, nil
}

// SetRoles replaces the roles kept in every session of userID.
func (s *Sessions) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	err := retryConflict(ctx, s.db, func() error {
		_, err := s.db.NewUpdate().Model((*sessionRow)(nil)).
			Set("roles = ?", rolesToText(roles)).
			Where("user_id = ?", userID).
			Exec(ctx)
		return err
	})
	if err != nil {
		return translate("set session roles", err)
	}
	return nil
}

// PurgeExpired deletes every session past its idle or absolute limit at now and says how many.
func (s *Sessions) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	t := dbTime(now)
	return execCount(ctx, s.db, "purge expired sessions", s.db.NewDelete().Model((*sessionRow)(nil)).
		WhereOr("idle_expires_at <= ?", t).
		WhereOr("abs_expires_at <= ?", t))
}
