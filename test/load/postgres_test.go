package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The postgres store runs on loopback only, as every target of the load generator does.
func TestCheckPostgresURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"postgres://postgres@127.0.0.1:5432/postgres":  true,
		"postgres://postgres@localhost/postgres":       true,
		"postgres://postgres@[::1]:5432/postgres":      true,
		"postgres://postgres@db.example.com/postgres":  false,
		"postgres://postgres@192.0.2.10:5432/postgres": false,
		"postgres://postgres@127.0.0.1:99999/postgres": false, // not a port
	} {
		if err := checkPostgresURL(raw); (err == nil) != ok {
			t.Errorf("checkPostgresURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

// Each server of the postgres store gets a database of its own, which is gone afterwards.
func TestCreatePostgresDatabase(t *testing.T) {
	base := testenv.PostgresURL(t) // the test's own database: the run's is created beside it
	ctx := t.Context()
	url, drop, err := createPostgresDatabase(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.IndexByte(name, '?'); i >= 0 {
		name = name[:i]
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to the run's database: %v", err)
	}
	_ = conn.Close(context.Background())
	drop()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after drop, %d databases named %s (%v)", n, name, err)
	}
}
