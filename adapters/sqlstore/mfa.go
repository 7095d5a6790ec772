package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// TOTPFactors is the SQL ports.TOTPFactors (table mfa_totp, one row per user). UseStep is one
// conditional UPDATE (last_step < step), so of concurrent uses of one code exactly one moves
// the step. Safe for concurrent use.
type TOTPFactors struct {
	db *bun.DB
}

var _ ports.TOTPFactors = (*TOTPFactors)(nil)

// NewTOTPFactors returns the TOTP factor store of db.
func NewTOTPFactors(db *DB) *TOTPFactors { return &TOTPFactors{db: db.bun} }

// Put replaces the user's pending factor with f, in one transaction; a confirmed factor is
// domain.ErrConflict and stays.
func (t *TOTPFactors) Put(ctx context.Context, f domain.TOTPFactor) error {
	row := totpToRow(f)
	row.Confirmed, row.ConfirmedAt = false, time.Time{}
	err := runTx(ctx, t.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*totpRow)(nil)).
			Where("user_id = ?", f.UserID).Where("confirmed = ?", false).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	return translate("put TOTP factor", err)
}

// Get returns the user's factor.
func (t *TOTPFactors) Get(ctx context.Context, userID string) (domain.TOTPFactor, error) {
	var row totpRow
	if err := t.db.NewSelect().Model(&row).Where("mt.user_id = ?", userID).Scan(ctx); err != nil {
		return domain.TOTPFactor{}, translate("get TOTP factor", err)
	}
	return row.toDomain(), nil
}

// Confirm turns the pending factor with secret into a confirmed one.
func (t *TOTPFactors) Confirm(ctx context.Context, userID string, secret []byte, step int64, at time.Time) error {
	res, err := execRetry(ctx, t.db, t.db.NewUpdate().Model((*totpRow)(nil)).
		Set("confirmed = ?", true).Set("confirmed_at = ?", dbTime(at)).Set("last_step = ?", step).
		Where("user_id = ?", userID).Where("confirmed = ?", false).Where("secret = ?", secret))
	if err != nil {
		return translate("confirm TOTP factor", err)
	}
	return mustAffect("confirm TOTP factor", res)
}

// UseStep moves last_step forward to step if it is later; otherwise it tells a replay
// (domain.ErrConflict) from a missing factor (domain.ErrNotFound).
func (t *TOTPFactors) UseStep(ctx context.Context, userID string, step int64) error {
	res, err := execRetry(ctx, t.db, t.db.NewUpdate().Model((*totpRow)(nil)).Set("last_step = ?", step).
		Where("user_id = ?", userID).Where("confirmed = ?", true).Where("last_step < ?", step))
	if err != nil {
		return translate("use TOTP step", err)
	}
	err = mustAffect("use TOTP step", res)
	if !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	f, gerr := t.Get(ctx, userID)
	switch {
	case gerr != nil:
		return gerr
	case !f.Confirmed:
		return fmt.Errorf("use TOTP step: %w", domain.ErrNotFound)
	}
	return fmt.Errorf("use TOTP step: %w", domain.ErrConflict)
}

// Delete removes the user's factor.
func (t *TOTPFactors) Delete(ctx context.Context, userID string) error {
	_, err := execRetry(ctx, t.db, t.db.NewDelete().Model((*totpRow)(nil)).Where("user_id = ?", userID))
	return translate("delete TOTP factor", err)
}

// RecoveryCodes is the SQL ports.RecoveryCodes (table recovery_codes, one row per unused code).
// Use is one DELETE: the caller whose DELETE removed the row used the code. Safe for concurrent
// use.
type RecoveryCodes struct {
	db *bun.DB
}

var _ ports.RecoveryCodes = (*RecoveryCodes)(nil)

// NewRecoveryCodes returns the recovery-code store of db.
func NewRecoveryCodes(db *DB) *RecoveryCodes { return &RecoveryCodes{db: db.bun} }

// Replace drops the user's codes and inserts hashes, in one transaction.
func (r *RecoveryCodes) Replace(ctx context.Context, userID string, hashes [][]byte, at time.Time) error {
	rows := make([]recoveryCodeRow, len(hashes))
	for i, h := range hashes {
		rows[i] = recoveryCodeRow{UserID: userID, Hash: h, CreatedAt: dbTime(at)}
	}
	err := runTx(ctx, r.db, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Model((*recoveryCodeRow)(nil)).Where("user_id = ?", userID).Exec(ctx); err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		_, err := tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	return translate("replace recovery codes", err)
}

// Use deletes the code.
func (r *RecoveryCodes) Use(ctx context.Context, userID string, hash []byte) error {
	res, err := execRetry(ctx, r.db, r.db.NewDelete().Model((*recoveryCodeRow)(nil)).
		Where("user_id = ?", userID).Where("hash = ?", hash))
	if err != nil {
		return translate("use recovery code", err)
	}
	return mustAffect("use recovery code", res)
}

// Count counts the user's codes.
func (r *RecoveryCodes) Count(ctx context.Context, userID string) (int, error) {
	n, err := r.db.NewSelect().Model((*recoveryCodeRow)(nil)).Where("user_id = ?", userID).Count(ctx)
	if err != nil {
		return 0, translate("count recovery codes", err)
	}
	return int(n), nil
}

// DeleteByUser deletes the user's codes.
func (r *RecoveryCodes) DeleteByUser(ctx context.Context, userID string) error {
	_, err := execRetry(ctx, r.db, r.db.NewDelete().Model((*recoveryCodeRow)(nil)).Where("user_id = ?", userID))
	return translate("delete recovery codes", err)
}

// Challenges is the SQL ports.Challenges (table challenges), for PORTCULLIS_SESSION_STORE=sql.
// Take reads and deletes the row in one transaction and wins only if its own DELETE removed it.
// Expired rows behave as missing ones and are purged in the background (PurgeExpired). Safe
// for concurrent use.
type Challenges struct {
	db *bun.DB
}

var _ ports.Challenges = (*Challenges)(nil)

// NewChallenges returns the challenge store of db.
func NewChallenges(db *DB) *Challenges { return &Challenges{db: db.bun} }

// Put inserts c; a hash already held for the purpose is domain.ErrConflict.
func (c *Challenges) Put(ctx context.Context, ch domain.Challenge) error {
	row := challengeToRow(ch)
	_, err := execRetry(ctx, c.db, c.db.NewInsert().Model(&row))
	return translate("put challenge", err)
}

// Take removes and returns the live challenge.
func (c *Challenges) Take(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	var row challengeRow
	err := runTx(ctx, c.db, func(ctx context.Context, tx bun.Tx) error {
		row = challengeRow{}
		if err := tx.NewSelect().Model(&row).Where("ch.purpose = ?", string(purpose)).Where("ch.hash = ?", hash).
			Scan(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*challengeRow)(nil)).
			Where("purpose = ?", string(purpose)).Where("hash = ?", hash).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, sql.ErrNoRows) // another caller took it after our read
		}
		return nil
	})
	if err != nil {
		return domain.Challenge{}, translate("take challenge", err)
	}
	if !dbTime(now).Before(row.ExpiresAt) {
		return domain.Challenge{}, fmt.Errorf("take challenge: %w", domain.ErrNotFound)
	}
	return row.toDomain(), nil
}

// Get returns the live challenge and keeps it.
func (c *Challenges) Get(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	var row challengeRow
	err := c.db.NewSelect().Model(&row).Where("ch.purpose = ?", string(purpose)).Where("ch.hash = ?", hash).Scan(ctx)
	if err != nil {
		return domain.Challenge{}, translate("get challenge", err)
	}
	if !dbTime(now).Before(row.ExpiresAt) {
		return domain.Challenge{}, fmt.Errorf("get challenge: %w", domain.ErrNotFound)
	}
	return row.toDomain(), nil
}

// PurgeExpired deletes the challenges expired at now and returns how many.
func (c *Challenges) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	return execCount(ctx, c.db, "purge challenges", c.db.NewDelete().Model((*challengeRow)(nil)).Where("expires_at <= ?", dbTime(now)))
}
