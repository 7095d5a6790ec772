package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// OneTimeTokens is the SQL ports.OneTimeTokens. A user holds at most one token per purpose (a
// unique index on user_id, purpose), so Create is one upsert that replaces the earlier token
// atomically, however many Creates race. Consume reads and deletes the token in one transaction
// and succeeds only if its own conditional DELETE removed the row, so of any number of
// concurrent consumers (goroutines or instances) exactly one wins. Expired tokens behave as
// missing ones and are removed by PurgeExpired, which Module runs in the background once a
// minute.
// Safe for concurrent use.
type OneTimeTokens struct{ conn }

var _ ports.OneTimeTokens = (*OneTimeTokens)(nil)

// NewOneTimeTokens returns the one-time-token store of db.
func NewOneTimeTokens(db *DB) *OneTimeTokens {
	return &OneTimeTokens{connOf(db)}
}

// Create stores t, replacing the earlier token of t.UserID and t.Purpose if there is one, in
// one statement. On SQLite and PostgreSQL a hash already held by another user's or purpose's
// token is domain.ErrConflict; on MySQL, whose upsert cannot tell which unique key collided,
// such a Create leaves the other token untouched and stores nothing (a collision of SHA-256
// hashes of random tokens does not happen).
func (o *OneTimeTokens) Create(ctx context.Context, t domain.OneTimeToken) error {
	if _, err := execRetry(ctx, o.db, upsertToken(o.db, o.kind, t)); err != nil {
		return translate("create one-time token", err)
	}
	return nil
}

// upsertToken is the statement of Create on db (the pool or a transaction).
func upsertToken(db bun.IDB, kind Kind, t domain.OneTimeToken) *bun.InsertQuery {
	row := oneTimeTokenToRow(t)
	q := db.NewInsert().Model(&row)
	if kind == MySQL {
		// Only a row of the same user and purpose is replaced; on a collision of the hash with
		// another user's token every column keeps its value.
		const same = "user_id = VALUES(user_id) AND purpose = VALUES(purpose)"
		return q.On("DUPLICATE KEY UPDATE").
			Set("created_at = IF(" + same + ", VALUES(created_at), created_at)").
			Set("expires_at = IF(" + same + ", VALUES(expires_at), expires_at)").
			Set("new_email = IF(" + same + ", VALUES(new_email), new_email)").
			Set("hash = IF(" + same + ", VALUES(hash), hash)")
	}
	return q.On("CONFLICT (user_id, purpose) DO UPDATE").
		Set("hash = EXCLUDED.hash").
		Set("created_at = EXCLUDED.created_at").
		Set("expires_at = EXCLUDED.expires_at").
		Set("new_email = EXCLUDED.new_email")
}

// Consume deletes and returns the token with hash and purpose if it is unexpired at now. The
// row is read and then deleted under the same conditions in one transaction; the caller wins
// only if that DELETE removed the row, so a concurrent consumer that read it too gets
// domain.ErrNotFound. A token of another purpose is left in place.
func (o *OneTimeTokens) Consume(ctx context.Context, hash []byte, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error) {
	if len(hash) == 0 {
		return domain.OneTimeToken{}, fmt.Errorf("consume one-time token: %w", domain.ErrNotFound)
	}
	at := dbTime(now)
	var row oneTimeTokenRow
	err := runTx(ctx, o.db, func(ctx context.Context, tx bun.Tx) error {
		row = oneTimeTokenRow{}
		err := tx.NewSelect().Model(&row).
			Where("ott.hash = ?", hash).
			Where("ott.purpose = ?", string(purpose)).
			Where("ott.expires_at > ?", at).
			Scan(ctx)
		if err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*oneTimeTokenRow)(nil)).
			Where("hash = ?", hash).
			Where("purpose = ?", string(purpose)).
			Where("expires_at > ?", at).
			Exec(ctx)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return sql.ErrNoRows // another consumer deleted it after our read
		}
		return nil
	})
	if err != nil {
		return domain.OneTimeToken{}, translate("consume one-time token", err)
	}
	return row.toDomain(), nil
}

// DeleteByUser removes every token of userID, whatever its purpose or expiry.
func (o *OneTimeTokens) DeleteByUser(ctx context.Context, userID string) error {
	if _, err := execRetry(ctx, o.db, o.db.NewDelete().Model((*oneTimeTokenRow)(nil)).Where("user_id = ?", userID)); err != nil {
		return translate("delete one-time tokens of user", err)
	}
	return nil
}

// DeleteByUserPurpose removes userID's tokens of purpose.
func (o *OneTimeTokens) DeleteByUserPurpose(ctx context.Context, userID string, purpose domain.TokenPurpose) error {
	_, err := o.db.NewDelete().Model((*oneTimeTokenRow)(nil)).
		Where("user_id = ?", userID).Where("purpose = ?", string(purpose)).Exec(ctx)
	if err != nil {
		return translate("delete one-time tokens of user", err)
	}
	return nil
}

// PurgeExpired deletes every token expired at now and says how many.
func (o *OneTimeTokens) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	return execCount(ctx, o.db, "purge expired one-time tokens", o.db.NewDelete().Model((*oneTimeTokenRow)(nil)).
		Where("expires_at <= ?", dbTime(now)))
}
