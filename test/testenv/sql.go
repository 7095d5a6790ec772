package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// MySQLURL creates a fresh, uniquely named database on the MySQL (or MariaDB) server named by
// PORTCULLIS_TEST_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306/), returns a mysql:// URL that
// points at it, and drops it when the test ends. With the variable unset it uses a container when
// a Docker engine answers (containers.go), else it skips (or fails, see Lookup).
func MySQLURL(t testing.TB) string {
	t.Helper()
	base := lookupOrStart(t, MySQLURLVar)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", MySQLURLVar, err)
	}
	name := databaseName()
	admin := adminDB(t, "mysql", mysqlDSN(u))
	mustExec(t, admin, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
	t.Cleanup(func() { mustExec(t, admin, "DROP DATABASE IF EXISTS `"+name+"`") })
	u.Path = "/" + name
	return u.String()
}

// mysqlDSN is the go-sql-driver DSN of the server of a mysql:// URL, with no database.
func mysqlDSN(u *url.URL) string {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.Timeout = 5 * time.Second
	return cfg.FormatDSN()
}

// PostgresURL creates a fresh, uniquely named database on the PostgreSQL server named by
// PORTCULLIS_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable),
// returns a postgres:// URL that points at it, and drops it when the test ends. With the variable
// unset it uses a container when a Docker engine answers (containers.go), else it skips (or
// fails, see Lookup).
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := lookupOrStart(t, PostgresURLVar)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresURLVar, err)
	}
	name := databaseName()
	admin := adminDB(t, "pgx", base)
	mustExec(t, admin, `CREATE DATABASE "`+name+`"`)
	// WITH (FORCE) ends connections a leaky test left open (PostgreSQL 13+).
	t.Cleanup(func() { mustExec(t, admin, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`) })
	u.Path = "/" + name
	return u.String()
}

// databaseName is a fresh name made of [a-z0-9_], safe to quote in either dialect.
func databaseName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "portcullis_test_" + hex.EncodeToString(b)
}

// adminDB opens a single-connection pool to the server, closed after the test's other cleanups.
func adminDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s test server: %v", driver, err)
	}
	db.SetMaxOpenConns(1)
	// Registered before the DROP cleanup, so it runs after it.
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("reach %s test server: %v", driver, err)
	}
	return db
}

func mustExec(t testing.TB, db *sql.DB, query string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
