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
	db   bun.IDB
	kind Kind

	byID, byEmail, byUsername *prepared // SQLite only (prepared.go)
}

var _ ports.UserStore = (*Users)(nil)

// NewUsers returns the user store of db.
func NewUsers(db *DB) *Users {
	return &Users{db: db.bun, kind: db.kind, byID: userBy("id"), byEmail: userBy("email"), byUsername: userBy("username")}
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
	n, err := execCount(ctx, u.db, "update user", updateUser(u.db, &row))
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
	return domain.User{}, staleUser(user, stored.Version)
}

// updateUser is Update's statement on db: every mutable field of row, written only over the
// version row holds, which it moves to the next one.
func updateUser(db bun.IDB, row *userRow) *bun.UpdateQuery {
	return db.NewUpdate().Model(row).
		Column("email", "email_verified", "username", "name", "roles", "password_hash", "disabled", "updated_at").
		Set("version = version + 1").
		WherePK().
		Where("version = ?", row.Version)
}

// staleUser is the domain.ErrStale of an update of user over a version other than stored.
func staleUser(user domain.User, stored int64) error {
	return fmt.Errorf("update user %s: version %d, stored %d: %w", user.ID, user.Version, stored, domain.ErrStale)
}

// UpdateUnlessLastAdmin is Update, refused with domain.ErrLastAdmin (nothing written) when the
// stored user is an enabled admin, user is not, and no other enabled admin is stored. The
// check and the write are one transaction behind the admin guard (inAdminGuard).
func (u *Users) UpdateUnlessLastAdmin(ctx context.Context, user domain.User) (domain.User, error) {
	row := userToRow(user)
	var stored userRow
	err := u.inAdminGuard(ctx, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&stored).Where("u.id = ?", user.ID).Scan(ctx); err != nil {
			return err
		}
		if stored.Version != user.Version {
			return staleUser(user, stored.Version)
		}
		if stored.toDomain().ActiveAdmin() && !user.ActiveAdmin() {
			if err := u.keepOtherAdmin(ctx, tx, user.ID); err != nil {
				return err
			}
		}
		res, err := updateUser(tx, &row).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			// An Update committed since the read above, which MySQL's snapshot read does not
			// see but its UPDATE, reading the latest row, does.
			return fmt.Errorf("update user %s: version %d moved on: %w", user.ID, user.Version, domain.ErrStale)
		}
		// Read back what is stored (created_at is not written, so only the row knows it).
		return tx.NewSelect().Model(&stored).Where("u.id = ?", user.ID).Scan(ctx)
	})
	if err != nil {
		return domain.User{}, translate("update user", err)
	}
	return stored.toDomain(), nil
}

// Delete removes the user with id and, in the same transaction, the user's TOTP factor,
// recovery codes and passkeys (the tables have no foreign keys to cascade); a missing user is
// domain.ErrNotFound and the transaction is rolled back, and so is the removal of the only
// enabled admin (domain.ErrLastAdmin): the check and the removal are one transaction behind the
// admin guard (inAdminGuard). Sessions are not touched: the caller ends them through the
// session store, which may live elsewhere.
func (u *Users) Delete(ctx context.Context, id string) error {
	err := u.inAdminGuard(ctx, func(ctx context.Context, tx bun.Tx) error {
		var stored userRow
		if err := tx.NewSelect().Model(&stored).Where("u.id = ?", id).Scan(ctx); err != nil {
			return err
		}
		if stored.toDomain().ActiveAdmin() {
			if err := u.keepOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		return deleteUser(ctx, tx, id)
	})
	if errors.Is(err, domain.ErrNotFound) {
		return err
	}
	return translate("delete user", err)
}

// deleteUser removes user id and its second factors in tx; a missing user is
// domain.ErrNotFound.
func deleteUser(ctx context.Context, tx bun.Tx, id string) error {
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
}

// inAdminGuard runs fn in a transaction that first writes the row of admin_guard, and runs it
// again when the engine chose it as a deadlock or certification victim. Every transaction that
// may take away an enabled admin goes through here, so none of them reads the enabled admins
// before the one ahead of it has committed: on MySQL and PostgreSQL the second waits for the
// row's lock, then reads what the first committed (PostgreSQL's READ COMMITTED reads anew each
// statement; MySQL's REPEATABLE READ takes its snapshot at the first read, after the lock); on
// MariaDB Galera Cluster, where row locks are local to a node, the two write the row through
// different nodes and the later one loses certification (1213) and runs again, reading the
// first's change; on SQLite every write transaction runs alone (BEGIN IMMEDIATE, see
// sqlitePragmas). A locking read of the admins (FOR UPDATE) would do on one server but not on
// Galera, which certifies writes only.
func (u *Users) inAdminGuard(ctx context.Context, fn func(ctx context.Context, tx bun.Tx) error) error {
	return retryConflict(ctx, u.db, func() error {
		return u.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			res, err := tx.NewUpdate().Model((*adminGuardRow)(nil)).Set("taken = taken + 1").Where("id = ?", 1).Exec(ctx)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				return errors.New("the admin_guard row is missing (migration 20261202000100)")
			}
			return fn(ctx, tx)
		})
	})
}

// keepOtherAdmin is domain.ErrLastAdmin unless an enabled admin other than user id is stored,
// as tx reads it.
func (u *Users) keepOtherAdmin(ctx context.Context, tx bun.Tx, id string) error {
	sel := tx.NewSelect().Model((*userRow)(nil)).Where("u.disabled = ?", false).Where("u.id <> ?", id)
	whereRole(sel, u.kind, domain.RoleAdmin)
	ok, err := sel.Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("user %s: %w", id, domain.ErrLastAdmin)
	}
	return nil
}
