package sqlstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// openTest opens and migrates a fresh database of kind for one test or benchmark.
func openTest(tb testing.TB, kind Kind) *DB {
	tb.Helper()
	var url string
	switch kind {
	case SQLite:
		url = "sqlite://" + filepath.Join(tb.TempDir(), "sub", "portcullis.db")
	case MySQL:
		url = testenv.MySQLURL(tb)
	case Postgres:
		url = testenv.PostgresURL(tb)
	}
	ctx := context.Background()
	db, err := Open(ctx, url, Options{})
	if err != nil {
		tb.Fatalf("open %s: %v", kind, err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", kind, err)
	}
	return db
}
