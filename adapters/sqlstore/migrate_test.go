package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "new", "dir", "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	status := func(t *testing.T) (applied, pending, unknown int) {
		t.Helper()
		states, err := db.MigrationStatus(ctx)
		if err != nil {
			t.Fatalf("MigrationStatus: %v", err)
		}
		for _, s := range states {
			switch {
			case s.Unknown:
				unknown++
			case s.Applied:
				applied++
			default:
				pending++
			}
		}
		return
	}

	t.Run("fresh database is all pending and fails CheckSchema", func(t *testing.T) {
		if a, p, u := status(t); a != 0 || p == 0 || u != 0 {
			t.Fatalf("applied %d pending %d unknown %d", a, p, u)
		}
		if err := db.CheckSchema(ctx); !errors.Is(err, ErrSchemaPending) {
			t.Fatalf("CheckSchema = %v, want ErrSchemaPending", err)
		}
	})
	t.Run("up applies everything and is idempotent", func(t *testing.T) {
		for range 2 {
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		}
		if a, p, u := status(t); a == 0 || p != 0 || u != 0 {
			t.Fatalf("applied %d pending %d unknown %d", a, p, u)
		}
		if err := db.CheckSchema(ctx); err != nil {
			t.Fatalf("CheckSchema: %v", err)
		}
		for _, table := range []string{"users", "sessions", "signing_keys"} {
			if ok, err := db.tableExists(ctx, table); err != nil || !ok {
				t.Fatalf("table %s exists = %v, %v", table, ok, err)
			}
		}
	})
	t.Run("down rolls back the last group", func(t *testing.T) {
		rolled, err := db.MigrateDown(ctx)
		if err != nil || len(rolled) == 0 {
			t.Fatalf("MigrateDown = %v, %v", rolled, err)
		}
		if ok, _ := db.tableExists(ctx, "users"); ok {
			t.Fatal("users still exists after rolling back")
		}
		if a, _, _ := status(t); a != 0 {
			t.Fatalf("%d migrations still applied", a)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	})
	t.Run("refuses a database with an unknown newer migration", func(t *testing.T) {
		if _, err := db.bun.NewRaw("INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, CURRENT_TIMESTAMP)").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); !errors.Is(err, ErrSchemaNewer) {
			t.Fatalf("Migrate = %v, want ErrSchemaNewer", err)
		}
		if _, err := db.MigrateDown(ctx); !errors.Is(err, ErrSchemaNewer) {
			t.Fatalf("MigrateDown = %v, want ErrSchemaNewer", err)
		}
		if err := db.CheckSchema(ctx); !errors.Is(err, ErrSchemaNewer) {
			t.Fatalf("CheckSchema = %v, want ErrSchemaNewer", err)
		}
		if _, _, u := status(t); u != 1 {
			t.Fatalf("unknown = %d, want 1", u)
		}
		if ok, _ := db.tableExists(ctx, "users"); !ok {
			t.Fatal("refusing to migrate dropped a table")
		}
	})
}

// Instances starting together must migrate once: the others wait on the lock and find nothing
// left to do.
func TestMigrateConcurrentInstances(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "p.db")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(ctx, url, Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			errs[i] = db.Migrate(ctx)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var groups int
	if err := db.bun.NewRaw("SELECT COUNT(DISTINCT group_id) FROM bun_migrations").Scan(ctx, &groups); err != nil {
		t.Fatal(err)
	}
	if groups != 1 {
		t.Fatalf("%d migration groups, want 1", groups)
	}
}

func TestOpenURLs(t *testing.T) {
	tests := []struct {
		url  string
		kind Kind
		bad  bool
	}{
		{url: "sqlite://data/p.db", kind: SQLite},
		{url: "file:p.db?cache=shared", kind: SQLite},
		{url: "p.db", kind: SQLite},
		{url: "mysql://u:p@h:3306/db?tls=preferred", kind: MySQL},
		{url: "postgres://u@h/db", kind: Postgres},
		{url: "postgresql://u@h/db", kind: Postgres},
		{url: "redis://h", bad: true},
		{url: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			k, err := kindOf(tt.url)
			if (err != nil) != tt.bad || k != tt.kind {
				t.Fatalf("kindOf = %q, %v", k, err)
			}
		})
	}
	cfg, err := mysqlConfig("mysql://u:p%40ss@db.example:3307/auth?tls=preferred", 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "u" || cfg.Passwd != "p@ss" || cfg.Addr != "db.example:3307" || cfg.DBName != "auth" ||
		!cfg.ParseTime || cfg.MultiStatements || !cfg.ClientFoundRows || cfg.TLSConfig != "preferred" {
		t.Fatalf("mysql config %+v", cfg)
	}
}

func TestInMemorySQLite(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://:memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckSchema(ctx); err != nil {
		t.Fatalf("the schema did not stay on the one in-memory database: %v", err)
	}
}

// TestKindOf: the one reading of a database URL's engine, which config checks
// PORTCULLIS_DATABASE_URL with.
func TestKindOf(t *testing.T) {
	tests := []struct {
		raw, want string
		wantErr   bool
	}{
		{raw: "sqlite://./data/p.db", want: "sqlite"},
		{raw: "file:p.db?cache=shared", want: "sqlite"},
		{raw: "./data/p.db", want: "sqlite"},
		{raw: "mysql://u:p@h:3306/db", want: "mysql"},
		{raw: "postgres://u@h/db", want: "postgres"},
		{raw: "postgresql://u@h/db", want: "postgres"},
		{raw: "", wantErr: true},
		{raw: "oracle://h/db", wantErr: true},
	}
	for _, tt := range tests {
		got, err := KindOf(tt.raw)
		if (err != nil) != tt.wantErr || string(got) != tt.want {
			t.Errorf("KindOf(%q) = %q, %v; want %q, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestURLErrorHidesPassword: a database URL net/url cannot parse is reported without any of the
// URL, not even the bad %-escape inside the password.
func TestURLErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{"postgres://u:hun%zzter2@db/auth", "mysql://u:hun%zzter2@db:3306/auth"} {
		_, err := openDB(raw, Options{})
		if err == nil || strings.Contains(err.Error(), "zz") || strings.Contains(err.Error(), "hun") {
			t.Errorf("openDB(%q) = %v, want an error quoting nothing of the password", raw, err)
		}
	}
}
