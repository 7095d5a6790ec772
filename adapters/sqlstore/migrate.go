package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/uptrace/bun/migrate"
)

// migrationFiles holds one directory of SQL migrations per dialect. Every dialect has the same
// migration ids (the numeric prefix); the SQL differs where the engines do. SQLite and
// PostgreSQL migrations are .tx. files (transactional DDL); MySQL DDL commits implicitly, so its
// statements are written to be re-runnable.
//
//go:embed migrations
var migrationFiles embed.FS

// Errors about the schema version, matchable with errors.Is.
var (
	// ErrSchemaNewer: the database has an applied migration that this binary does not know. An
	// older binary must not run against (or roll back) a newer schema.
	ErrSchemaNewer = errors.New("database schema is newer than this binary")
	// ErrSchemaPending: the database lacks migrations that this binary needs.
	ErrSchemaPending = errors.New("database schema has pending migrations")
)

// Bun's tables: the applied migrations, and the lock row.
const (
	migrationsTable     = "bun_migrations"
	migrationLocksTable = "bun_migration_locks"
)

// MigrationState is one migration as Migrate sees it.
type MigrationState struct {
	ID         string    // the numeric version, e.g. 20250601000001
	Comment    string    // the rest of the file name, e.g. init
	Applied    bool      // applied to this database
	GroupID    int64     // the Migrate run that applied it (0 when pending)
	MigratedAt time.Time // when it was applied (zero when pending)
	// Unknown is true for a migration applied to the database but not embedded in this binary:
	// the schema is newer than the binary.
	Unknown bool
}

// String is the migration's file-name stem, e.g. 20250601000001_init.
func (m MigrationState) String() string {
	if m.Comment == "" {
		return m.ID
	}
	return m.ID + "_" + m.Comment
}

func (db *DB) migrations() (*migrate.Migrations, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+string(db.kind))
	if err != nil {
		return nil, err
	}
	ms := migrate.NewMigrations()
	if err := ms.Discover(sub); err != nil {
		return nil, fmt.Errorf("load embedded migrations: %w", err)
	}
	db.addGoMigrations(ms)
	seen := map[string]string{}
	for _, m := range ms.Sorted() {
		if other, dup := seen[m.Name]; dup {
			// Bun would apply both but record one name, and roll back only one of them.
			return nil, fmt.Errorf("migrations %s_%s and %s_%s share one version", m.Name, other, m.Name, m.Comment)
		}
		seen[m.Name] = m.Comment
	}
	return ms, nil
}

func (db *DB) migrator() (*migrate.Migrator, error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, err
	}
	// Record a migration only once it has run, so a failed one is retried on the next start.
	return migrate.NewMigrator(db.bun, ms, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// Migrate applies every pending migration as one group. It holds Bun's migration lock while it
// runs, so instances starting together migrate once: the others wait (up to
// Options.MigrationLockTimeout) and then find nothing to do. It refuses, with ErrSchemaNewer, a
// database that has a migration this binary does not know.
//
// The lock is a row in bun_migration_locks (an InnoDB table with a primary key), not a table
// lock or a named lock, which MariaDB Galera Cluster does not replicate: on Galera the row
// reaches every node, and two nodes taking it at once see a certification conflict, which counts
// as "held". MySQL DDL runs there in total order isolation, on every node at once.
func (db *DB) Migrate(ctx context.Context) error {
	return db.MigrateTo(ctx, "")
}

// MigrateTo is Migrate, but it applies the pending migrations up to and including version
// (their numeric prefix) only; "" applies them all. It lets an operator stage a long upgrade,
// and a test build a database as an older binary left it.
func (db *DB) MigrateTo(ctx context.Context, version string) error {
	return db.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		if _, err := db.checkUnknown(ctx, m); err != nil {
			return err
		}
		if err := db.apply(ctx, m, version); err != nil {
			return fmt.Errorf("migrate %s: %w", db.kind, translate("apply", err))
		}
		return nil
	})
}

// apply runs every pending migration (up to upTo, when not ""), oldest first, as one new group, and records each as
// applied as soon as it has run (what Bun's Migrator.Migrate does with
// WithMarkAppliedOnSuccess). The record is retried on a deadlock or certification conflict: on
// MariaDB Galera Cluster a DDL statement replicated from another node (total order isolation)
// aborts a local transaction on the same table, and a migration that ran must not be left
// unrecorded, to be run a second time by the next instance.
func (db *DB) apply(ctx context.Context, m *migrate.Migrator, upTo string) error {
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return err
	}
	group := ms.LastGroupID() + 1
	for _, mg := range ms.Unapplied() {
		if upTo != "" && mg.Name > upTo {
			break
		}
		mg.GroupID = group
		if mg.Up != nil {
			if err := mg.Up(ctx, m, &mg); err != nil {
				return fmt.Errorf("%s: up: %w", mg.Name, err)
			}
		}
		if err := retryConflict(ctx, db.bun, func() error { return m.MarkApplied(ctx, &mg) }); err != nil {
			return fmt.Errorf("%s: record as applied: %w", mg.Name, err)
		}
	}
	return nil
}

// MigrateDown rolls back the last group of applied migrations and returns them, newest first.
// It refuses, with ErrSchemaNewer, a database that has a migration this binary does not know.
func (db *DB) MigrateDown(ctx context.Context) ([]MigrationState, error) {
	var out []MigrationState
	err := db.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		if _, err := db.checkUnknown(ctx, m); err != nil {
			return err
		}
		group, err := m.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("roll back %s: %w", db.kind, translate("rollback", err))
		}
		for i := len(group.Migrations) - 1; i >= 0; i-- {
			g := group.Migrations[i]
			out = append(out, MigrationState{ID: g.Name, Comment: g.Comment, GroupID: g.GroupID})
		}
		return nil
	})
	return out, err
}

// schemaVersion is the newest applied migration, "" for an empty database (or one it cannot
// read: Migrate reports that).
func (db *DB) schemaVersion(ctx context.Context) string {
	states, err := db.MigrationStatus(ctx)
	if err != nil {
		return ""
	}
	v := ""
	for _, m := range states {
		if m.Applied && m.ID > v {
			v = m.ID
		}
	}
	return v
}

// MigrationStatus lists every migration this binary knows, oldest first, followed by any
// applied migration it does not know (Unknown). It does not create or change anything.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	m, err := db.migrator()
	if err != nil {
		return nil, err
	}
	exists, err := db.tableExists(ctx, migrationsTable)
	if err != nil {
		return nil, err
	}
	var out []MigrationState
	if !exists {
		ms, err := db.migrations()
		if err != nil {
			return nil, err
		}
		for _, mg := range ms.Sorted() {
			out = append(out, MigrationState{ID: mg.Name, Comment: mg.Comment})
		}
		return out, nil
	}
	known, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, translate("read migration status", err)
	}
	for _, mg := range known {
		out = append(out, MigrationState{
			ID: mg.Name, Comment: mg.Comment, Applied: mg.IsApplied(), GroupID: mg.GroupID,
			MigratedAt: mg.MigratedAt.UTC(),
		})
	}
	unknown, err := m.MissingMigrations(ctx)
	if err != nil {
		return nil, translate("read migration status", err)
	}
	for i := len(unknown) - 1; i >= 0; i-- {
		mg := unknown[i]
		out = append(out, MigrationState{
			ID: mg.Name, Applied: true, GroupID: mg.GroupID, MigratedAt: mg.MigratedAt.UTC(), Unknown: true,
		})
	}
	return out, nil
}

// CheckSchema returns nil when the database has exactly the migrations this binary knows. It
// returns ErrSchemaNewer when the database is ahead of the binary and ErrSchemaPending when it is
// behind; use it at start when migrations are not applied automatically.
func (db *DB) CheckSchema(ctx context.Context) error {
	states, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	var pending, unknown []string
	for _, s := range states {
		switch {
		case s.Unknown:
			unknown = append(unknown, s.String())
		case !s.Applied:
			pending = append(pending, s.String())
		}
	}
	if len(unknown) > 0 {
		return schemaNewer(unknown)
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %s; run `portcullis migrate` or set PORTCULLIS_AUTO_MIGRATE=true",
			ErrSchemaPending, strings.Join(pending, ", "))
	}
	return nil
}

// ReleaseMigrationLock removes Bun's migration lock. Use it only when an instance died while
// migrating and left the lock behind; Migrate then reports a lock timeout.
func (db *DB) ReleaseMigrationLock(ctx context.Context) error {
	m, err := db.migrator()
	if err != nil {
		return err
	}
	if err := m.Unlock(ctx); err != nil {
		return translate("release migration lock", err)
	}
	return nil
}

func schemaNewer(names []string) error {
	return fmt.Errorf("%w: the database has migration(s) %s that this binary does not know; "+
		"run a newer Portcullis or restore a matching backup", ErrSchemaNewer, strings.Join(names, ", "))
}

func (db *DB) checkUnknown(ctx context.Context, m *migrate.Migrator) (bool, error) {
	unknown, err := m.MissingMigrations(ctx)
	if err != nil {
		return false, translate("read applied migrations", err)
	}
	if len(unknown) == 0 {
		return false, nil
	}
	names := make([]string, len(unknown))
	for i, mg := range unknown {
		names[len(unknown)-1-i] = mg.Name
	}
	return true, schemaNewer(names)
}

// withMigrationLock creates Bun's migration tables if needed, takes the migration lock (waiting
// for another instance that holds it), runs fn and releases the lock.
func (db *DB) withMigrationLock(ctx context.Context, fn func(*migrate.Migrator) error) error {
	m, err := db.migrator()
	if err != nil {
		return err
	}
	// Once the tables exist, no DDL: on Galera even CREATE TABLE IF NOT EXISTS runs on every
	// node and aborts the transactions of a migration in progress on those tables.
	exist, err := db.tableExists(ctx, migrationsTable)
	if err == nil && exist {
		exist, err = db.tableExists(ctx, migrationLocksTable)
	}
	if err != nil {
		return err
	}
	if !exist {
		if err := m.Init(ctx); err != nil {
			// Two instances creating the tables at once can collide (PostgreSQL reports a unique
			// violation in its catalogue); the second attempt finds them in place.
			if err := m.Init(ctx); err != nil {
				return fmt.Errorf("create migration tables: %w", translate("init", err))
			}
		}
	}
	if err := db.lock(ctx, m); err != nil {
		return err
	}
	defer func() {
		// Release even if ctx was cancelled meanwhile; a left-over lock blocks every later start.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = retryConflict(uctx, db.bun, func() error { return m.Unlock(uctx) })
	}()
	return fn(m)
}

func (db *DB) lock(ctx context.Context, m *migrate.Migrator) error {
	deadline := time.Now().Add(db.opts.MigrationLockTimeout)
	wait := 50 * time.Millisecond
	for {
		err := m.Lock(ctx)
		if err == nil {
			return nil
		}
		// Another instance holds the lock: a unique violation on its row, or, on MariaDB Galera
		// Cluster, a certification conflict when two nodes insert it at the same moment.
		if !isUniqueViolation(err) && !isTxConflict(err) {
			return fmt.Errorf("take migration lock: %w", translate("lock", err))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("take migration lock: another instance has held it for over %s; "+
				"if none is migrating, a crashed one left it behind: release it with ReleaseMigrationLock "+
				"(portcullis migrate unlock)", db.opts.MigrationLockTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("take migration lock: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (db *DB) tableExists(ctx context.Context, table string) (bool, error) {
	var q string
	switch db.kind {
	case SQLite:
		q = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	case MySQL:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	case Postgres:
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	// Retried on a conflict: on MariaDB Galera Cluster another node's CREATE TABLE (replicated
	// in total order) can abort even this read, with a deadlock error.
	var n int
	err := retryConflict(ctx, db.bun, func() error { return db.bun.NewRaw(q, table).Scan(ctx, &n) })
	if err != nil {
		return false, translate("look for "+table, err)
	}
	return n > 0, nil
}
