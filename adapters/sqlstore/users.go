package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// Users is the SQL ports.UserStore. Uniqueness of the (normalised) email and of the username is
// enforced by unique indexes, so concurrent registrations of one address have one winner.
type Users struct {
	db bun.IDB

	byID, byEmail, byUsername *prepared // SQLite only (prepared.go)
}

var _ ports.UserStore = (*Users)(nil)

// NewUsers returns the user store of db.
func NewUsers(db *DB) *Users {
	return &Users{db: db.bun, byID: userBy("id"), byEmail: userBy("email"), byUsername: userBy("username")}
}

// userBy is the prepared form of one's query on column.
func userBy(column string) *prepared {
	return newPrepared(func(db *bun.DB) string {
		return db.NewSelect().Model((*userRow)(nil)).Where("? = ?", bun.Ident("u."+column), bun.Safe("?")).Limit(1).String()
	})
}

// Create inserts a new user with version 1; a taken id, email or username is domain.ErrConflict.
func (u *Users) Create(ctx context.Context, user domain.User) error {
	row := userToRow(user)
	row.Version = 1
	err := retryConflict(ctx, u.db, func() error {
		_, err := u.db.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		return translate("create user", err)
	}
	return nil
}

// ByID returns the user with id, or domain.ErrNotFound.
func (u *Users) ByID(ctx context.Context, id string) (domain.User, error) {
	return u.one(ctx, "load user by id", "id", u.byID, id)
}

// ByEmail returns the user with the normalised email, or domain.ErrNotFound. The caller
// normalises; the comparison is exact.
func (u *Users) ByEmail(ctx context.Context, normalizedEmail string) (domain.User, error) {
	return u.one(ctx, "load user by email", "email", u.byEmail, normalizedEmail)
}

// ByUsername returns the user with the (lower-case) username, or domain.ErrNotFound.
func (u *Users) ByUsername(ctx context.Context, username string) (domain.User, error) {
	if username == "" {
		return domain.User{}, fmt.Errorf("load user by username: %w", domain.ErrNotFound)
	}
	return u.one(ctx, "load user by username", "username", u.byUsername, username)
}

func (u *Users) one(ctx context.Context, op, column string, p *prepared, value string) (domain.User, error) {
	var row userRow
	err := p.scan(ctx, u.db, &row, func() error {
		return u.db.NewSelect().Model(&row).Where("? = ?", bun.Ident("u."+column), value).Limit(1).Scan(ctx)
	}, value)
	if err != nil {
		return domain.User{}, translate(op, err)
	}
	return row.toDomain(), nil
}

// Update writes every mutable field of user for user.ID (not id or created_at), only if the
// stored version equals user.Version, and stores version user.Version+1 in the same statement;
// it returns the user as stored.
// A missing user is domain.ErrNotFound, another stored version domain.ErrStale (nothing is
// written), an email or username taken by another user domain.ErrConflict. MySQL connections
// run with ClientFoundRows, so an update that matches but changes nothing still counts a row.
func (u *Users) Update(ctx context.Context, user domain.User) (domain.User, error) {
	row := userToRow(user)
	n, err := execCount(ctx, u.db, "update user", u.db.NewUpdate().Model(&row).
		Column("email", "email_verified", "username", "name", "roles", "password_hash", "disabled", "updated_at").
		Set("version = version + 1").
		WherePK().
		Where("version = ?", user.Version))
	if err != nil {
		return domain.User{}, err
	}
	if n > 0 {
		// Read back what is stored (created_at is not written, so only the row knows it).
		return u.ByID(ctx, user.ID)
	}
	// No row matched: tell a missing user from one whose version moved on.
	stored, err := u.ByID(ctx, user.ID)
	if err != nil {
		return domain.User{}, fmt.Errorf("update user: %w", err)
	}
	return domain.User{}, fmt.Errorf("update user %s: version %d, stored %d: %w", user.ID, user.Version, stored.Version, domain.ErrStale)
}

// Delete removes the user with id and, in the same transaction, the user's TOTP factor,
// recovery codes and passkeys (the tables have no foreign keys to cascade); a missing user is
// domain.ErrNotFound and the transaction is rolled back. Sessions are not touched: the caller
// ends them through the session store, which may live elsewhere.
func (u *Users) Delete(ctx context.Context, id string) error {
	err := retryConflict(ctx, u.db, func() error {
		return u.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			res, err := tx.NewDelete().Model((*userRow)(nil)).Where("id = ?", id).Exec(ctx)
			if err != nil {
				return err
			}
			if err := mustAffect("delete user", res); err != nil {
				return err
			}
			for _, owned := range []any{(*totpRow)(nil), (*recoveryCodeRow)(nil), (*passkeyRow)(nil)} {
				if _, err := tx.NewDelete().Model(owned).Where("user_id = ?", id).Exec(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if errors.Is(err, domain.ErrNotFound) {
		return err
	}
	return translate("delete user", err)
}
