package sqlstore

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestStartCreatesAMissingDatabase: pointed at a server without the named database, start
// creates it and migrates into it when AutoMigrate is on, and fails clearly when it is off.
func TestStartCreatesAMissingDatabase(t *testing.T) {
	for name, base := range map[string]func(testing.TB) string{"mysql": testenv.MySQLURL, "postgres": testenv.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			fresh := base(t) // a database of this test's own; the missing one is named after it
			u, err := url.Parse(fresh)
			if err != nil {
				t.Fatal(err)
			}
			u.Path += "_new"
			missing := u.String()
			t.Cleanup(func() { dropDatabase(t, fresh, strings.TrimPrefix(u.Path, "/")) })

			if err := startModule(t, Config{URL: missing}); err == nil || !isUnknownDatabase(err) {
				t.Fatalf("without AutoMigrate: got %v, want an unknown-database error", err)
			}
			var users ports.UserStore
			if err := startModule(t, Config{URL: missing, AutoMigrate: true}, fx.Populate(&users)); err != nil {
				t.Fatalf("with AutoMigrate: %v", err)
			}
			// A second start finds the database and the schema in place.
			if err := startModule(t, Config{URL: missing, AutoMigrate: true}); err != nil {
				t.Fatalf("second start: %v", err)
			}
		})
	}
}

// TestCreateDatabaseRace: instances starting together on a PostgreSQL server without their
// database all create it; each succeeds, whether it created the database or another did (a
// loser of the race is told duplicate_database, or unique_violation on pg_database's index when
// the two CREATE DATABASEs ran at once). Several rounds, as the race is the server's to decide.
func TestCreateDatabaseRace(t *testing.T) {
	fresh := testenv.PostgresURL(t)
	const rounds, instances = 3, 8
	for round := range rounds {
		u, err := url.Parse(fresh)
		if err != nil {
			t.Fatal(err)
		}
		u.Path += fmt.Sprintf("_race%d", round)
		t.Cleanup(func() { dropDatabase(t, fresh, strings.TrimPrefix(u.Path, "/")) })
		errs := make(chan error, instances)
		var start, done sync.WaitGroup
		start.Add(1)
		for range instances {
			done.Go(func() {
				start.Wait()
				errs <- createDatabase(t.Context(), u.String(), Options{})
			})
		}
		start.Done()
		done.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %d instances creating one database at once: %v", round, instances, err)
			}
		}
		db, err := Open(t.Context(), u.String(), Options{})
		if err != nil {
			t.Fatalf("round %d: the created database: %v", round, err)
		}
		_ = db.Close()
	}
}

func startModule(t *testing.T, cfg Config, extra ...fx.Option) error {
	t.Helper()
	app := fx.New(append([]fx.Option{fx.Supply(cfg), Module, fx.NopLogger, fx.Invoke(func(*DB) {})}, extra...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return err
	}
	return app.Stop(ctx)
}

func dropDatabase(t *testing.T, serverURL, name string) {
	t.Helper()
	db, err := Open(context.Background(), serverURL, Options{})
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer db.Close()
	stmt := "DROP DATABASE IF EXISTS " + quoteIdent(name, '`')
	if db.Kind() == Postgres {
		stmt = "DROP DATABASE IF EXISTS " + quoteIdent(name, '"') + " WITH (FORCE)"
	}
	if _, err := db.Bun().ExecContext(context.Background(), stmt); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}
