package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// Keys is the SQL ports.KeyStore, shared by every instance that uses the database. The private
// key material arrives sealed and is stored as given.
type Keys struct {
	db bun.IDB
}

var _ ports.KeyStore = (*Keys)(nil)

// NewKeys returns the signing-key store of db.
func NewKeys(db *DB) *Keys { return &Keys{db: db.bun} }

// Keys returns every key, newest first (by creation time, then id).
func (k *Keys) Keys(ctx context.Context) ([]domain.SigningKey, error) {
	var rows []keyRow
	if err := k.db.NewSelect().Model(&rows).OrderExpr("k.created_at DESC, k.id DESC").Scan(ctx); err != nil {
		return nil, translate("list signing keys", err)
	}
	keys := make([]domain.SigningKey, len(rows))
	for i, r := range rows {
		keys[i] = r.toDomain()
	}
	return keys, nil
}

// Add stores a new key; a taken id is domain.ErrConflict.
func (k *Keys) Add(ctx context.Context, key domain.SigningKey) error {
	row := keyToRow(key)
	err := retryConflict(ctx, k.db, func() error {
		_, err := k.db.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		return translate("add signing key", err)
	}
	return nil
}

// Retire marks key id retired at at; a missing key is domain.ErrNotFound.
func (k *Keys) Retire(ctx context.Context, id string, at time.Time) error {
	var res sql.Result
	err := retryConflict(ctx, k.db, func() (err error) {
		res, err = k.db.NewUpdate().Model((*keyRow)(nil)).
			Set("retired_at = ?", dbTime(at)).
			Where("id = ?", id).
			Exec(ctx)
		return err
	})
	if err != nil {
		return translate("retire signing key", err)
	}
	return mustAffect("retire signing key", res)
}

// Delete removes key id for good; a missing key is domain.ErrNotFound.
func (k *Keys) Delete(ctx context.Context, id string) error {
	var res sql.Result
	err := retryConflict(ctx, k.db, func() (err error) {
		res, err = k.db.NewDelete().Model((*keyRow)(nil)).Where("id = ?", id).Exec(ctx)
		return err
	})
	if err != nil {
		return translate("delete signing key", err)
	}
	return mustAffect("delete signing key", res)
}
