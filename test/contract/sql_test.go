package contract

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// sqlEngines names each engine the SQL adapter runs on and how a test gets a fresh database:
// a file in the test's temporary directory for SQLite, a throwaway database on the servers
// named by PORTCULLIS_TEST_MYSQL_URL and PORTCULLIS_TEST_POSTGRES_URL otherwise (skipped when
// unset).
var sqlEngines = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "portcullis.db") }},
	{"MySQL", func(t *testing.T) string { return testenv.MySQLURL(t) }},
	{"Postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

// openSQL opens and migrates a fresh database, closed when the test ends.
func openSQL(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func TestUserStoreSQL(t *testing.T) {
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) {
			UserStore(t, func(t *testing.T) ports.UserStore { return sqlstore.NewUsers(openSQL(t, e.url(t))) })
		})
	}
}

func TestKeyStoreSQL(t *testing.T) {
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) {
			KeyStore(t, func(t *testing.T) ports.KeyStore { return sqlstore.NewKeys(openSQL(t, e.url(t))) })
		})
	}
}

func TestSessionStoreSQL(t *testing.T) {
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) {
			SessionStore(t, func(t *testing.T) ports.SessionStore { return sqlstore.NewSessions(openSQL(t, e.url(t))) })
		})
	}
}
