package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun/migrate"

	"github.com/portcullis-auth/portcullis/ports"
)

// RenormalizeFunc is the data step of the migration renormalize_identities: given this
// database's user store and directory, it rewrites the stored e-mail addresses and usernames to
// their normalised form (ports.IdentityNormalizer) and reports rows that collide instead of
// merging them. The composition root supplies it (application.RenormalizeIdentities with the
// identity adapter), since the rule lives outside this adapter.
type RenormalizeFunc func(ctx context.Context, users ports.UserStore, dir ports.UserDirectory) error

// RenormalizeVersion and renormalizeComment name the migration that renormalises stored
// identities. It is a Go migration, the same on every
// engine (the SQL is the user store's), recorded like the others: it runs once per database,
// under the migration lock, whichever instance or `portcullis migrate up` applies it, and a
// server that does not migrate at start refuses a database where it is pending.
const (
	RenormalizeVersion = "20261130020000"
	renormalizeComment = "renormalize_identities"
)

// ErrRenormalizeNeeded: the migration renormalize_identities is pending on a database that has
// users, and this DB was opened without Options.Renormalize, so it cannot run it. Nothing is
// recorded; migrating with the step (portcullis migrate up, or a server start) runs it.
var ErrRenormalizeNeeded = errors.New("stored identities must be renormalised, and this process was not given the normaliser")

// addGoMigrations adds the migrations written in Go to ms.
func (db *DB) addGoMigrations(ms *migrate.Migrations) {
	ms.Add(migrate.Migration{
		Name: RenormalizeVersion, Comment: renormalizeComment,
		Up: func(ctx context.Context, _ *migrate.Migrator, _ *migrate.Migration) error {
			return db.renormalize(ctx)
		},
		// Down leaves the identities as they are: a normalised identity is a valid one for the
		// older rule too (lower case, no invisible characters), and un-folding would lose nothing
		// but guesswork.
		Down: func(context.Context, *migrate.Migrator, *migrate.Migration) error { return nil },
	})
}

// renormalize is the Up of renormalize_identities.
func (db *DB) renormalize(ctx context.Context) error {
	if db.opts.Renormalize == nil {
		has, err := db.bun.NewSelect().Model((*userRow)(nil)).Limit(1).Exists(ctx)
		if err != nil {
			return fmt.Errorf("count users: %w", err)
		}
		if has {
			return ErrRenormalizeNeeded
		}
		return nil // nothing stored yet, nothing to fold
	}
	return db.opts.Renormalize(ctx, NewUsers(db), NewDirectory(db))
}
