package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Passkeys is the SQL ports.Passkeys (table passkeys, one row per credential; credential_id is
// unique). Use is one conditional UPDATE (the stored counter below the new one, or both zero),
// so of concurrent uses with one counter at most one moves it. Safe for concurrent use.
type Passkeys struct {
	db *bun.DB
}

var _ ports.Passkeys = (*Passkeys)(nil)

// NewPasskeys returns the passkey store of db.
func NewPasskeys(db *DB) *Passkeys { return &Passkeys{db: db.bun} }

// passkeyRow mirrors the passkeys table (migration 20261130000100).
type passkeyRow struct {
	bun.BaseModel `bun:"table:passkeys,alias:pk"`

	ID           string    `bun:"id,pk"`
	UserID       string    `bun:"user_id"`
	CredentialID []byte    `bun:"credential_id"`
	Name         string    `bun:"name"`
	SignCount    int64     `bun:"sign_count"`
	Credential   []byte    `bun:"credential"`
	CreatedAt    time.Time `bun:"created_at"`
	LastUsedAt   time.Time `bun:"last_used_at,nullzero"` // NULL until first used
}

func passkeyToRow(p domain.Passkey) passkeyRow {
	return passkeyRow{
		ID: p.ID, UserID: p.UserID, CredentialID: p.CredentialID, Name: p.Name,
		SignCount: int64(p.SignCount), Credential: p.Credential,
		CreatedAt: dbTime(p.CreatedAt), LastUsedAt: dbTime(p.LastUsedAt),
	}
}

func (r passkeyRow) toDomain() domain.Passkey {
	return domain.Passkey{
		ID: r.ID, UserID: r.UserID, CredentialID: r.CredentialID, Name: r.Name,
		SignCount: uint32(r.SignCount), Credential: r.Credential,
		CreatedAt: domainTime(r.CreatedAt), LastUsedAt: domainTime(r.LastUsedAt),
	}
}

// Add inserts p; a held id or credential id is domain.ErrConflict.
func (s *Passkeys) Add(ctx context.Context, p domain.Passkey) error {
	row := passkeyToRow(p)
	_, err := execRetry(ctx, s.db, s.db.NewInsert().Model(&row))
	return translate("add passkey", err)
}

// ByCredentialID finds a passkey by its authenticator's credential id.
func (s *Passkeys) ByCredentialID(ctx context.Context, credentialID []byte) (domain.Passkey, error) {
	var row passkeyRow
	if err := s.db.NewSelect().Model(&row).Where("pk.credential_id = ?", credentialID).Scan(ctx); err != nil {
		return domain.Passkey{}, translate("passkey by credential id", err)
	}
	return row.toDomain(), nil
}

// ByUser lists the user's passkeys, oldest first.
func (s *Passkeys) ByUser(ctx context.Context, userID string) ([]domain.Passkey, error) {
	var rows []passkeyRow
	if err := s.db.NewSelect().Model(&rows).Where("pk.user_id = ?", userID).
		OrderExpr("pk.created_at ASC, pk.id ASC").Scan(ctx); err != nil {
		return nil, translate("passkeys by user", err)
	}
	out := make([]domain.Passkey, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// HasAny asks whether a row of the user exists (one index probe of passkeys_user_id_idx).
func (s *Passkeys) HasAny(ctx context.Context, userID string) (bool, error) {
	has, err := s.db.NewSelect().Model((*passkeyRow)(nil)).Where("pk.user_id = ?", userID).Exists(ctx)
	if err != nil {
		return false, translate("user has a passkey", err)
	}
	return has, nil
}

// byID loads one passkey.
func (s *Passkeys) byID(ctx context.Context, id string) (domain.Passkey, error) {
	var row passkeyRow
	if err := s.db.NewSelect().Model(&row).Where("pk.id = ?", id).Scan(ctx); err != nil {
		return domain.Passkey{}, err
	}
	return row.toDomain(), nil
}

// Use moves the counter forward if the new one advances it. When no row changed it tells a
// missing passkey from a counter that does not advance; a counter-less authenticator (both
// zero) whose row MySQL reports unchanged is a success.
func (s *Passkeys) Use(ctx context.Context, id string, signCount uint32, credential []byte, at time.Time) error {
	const op = "use passkey"
	res, err := execRetry(ctx, s.db, s.db.NewUpdate().Model((*passkeyRow)(nil)).
		Set("sign_count = ?", int64(signCount)).Set("credential = ?", credential).Set("last_used_at = ?", dbTime(at)).
		Where("id = ?", id).
		WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
			return q.Where("sign_count < ?", int64(signCount)).
				WhereOr("sign_count = 0 AND ? = 0", int64(signCount))
		}))
	if err != nil {
		return translate(op, err)
	}
	err = mustAffect(op, res)
	if !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	p, gerr := s.byID(ctx, id)
	switch {
	case gerr != nil:
		return translate(op, gerr)
	case domain.SignCountAdvances(p.SignCount, signCount):
		return nil // both zero, and nothing else changed either
	}
	return fmt.Errorf("%s: sign count %d after %d: %w", op, signCount, p.SignCount, domain.ErrConflict)
}

// Rename renames the user's passkey and returns it.
func (s *Passkeys) Rename(ctx context.Context, userID, id, name string) (domain.Passkey, error) {
	const op = "rename passkey"
	if _, err := execRetry(ctx, s.db, s.db.NewUpdate().Model((*passkeyRow)(nil)).Set("name = ?", name).
		Where("id = ?", id).Where("user_id = ?", userID)); err != nil {
		return domain.Passkey{}, translate(op, err)
	}
	// MySQL counts an UPDATE to the same name as no row changed, so the row is read back.
	p, err := s.byID(ctx, id)
	if err != nil {
		return domain.Passkey{}, translate(op, err)
	}
	if p.UserID != userID {
		return domain.Passkey{}, fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	}
	return p, nil
}

// Delete removes the user's passkey.
func (s *Passkeys) Delete(ctx context.Context, userID, id string) error {
	res, err := execRetry(ctx, s.db, s.db.NewDelete().Model((*passkeyRow)(nil)).
		Where("id = ?", id).Where("user_id = ?", userID))
	if err != nil {
		return translate("delete passkey", err)
	}
	return mustAffect("delete passkey", res)
}

// DeleteByUser removes every passkey of the user.
func (s *Passkeys) DeleteByUser(ctx context.Context, userID string) error {
	_, err := execRetry(ctx, s.db, s.db.NewDelete().Model((*passkeyRow)(nil)).Where("user_id = ?", userID))
	return translate("delete passkeys", err)
}
