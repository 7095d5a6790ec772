package testenv

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// Variables naming the MariaDB Galera Cluster of the cluster tests (test/cluster/galera.sh
// prints both).
const (
	// GaleraURLsVar: comma-separated mysql:// URLs, one per node, e.g.
	// mysql://root@127.0.0.1:4306/,mysql://root@127.0.0.1:4307/,mysql://root@127.0.0.1:4308/
	GaleraURLsVar = "PORTCULLIS_TEST_GALERA_URLS"
	// GaleraDirVar: the cluster's directory, for galera.sh kill and rejoin.
	GaleraDirVar = "PORTCULLIS_TEST_GALERA_DIR"
)

// GaleraURLs creates a fresh database on the Galera cluster named by PORTCULLIS_TEST_GALERA_URLS
// (through its first node; Galera replicates the DDL to all) and returns one mysql:// URL per
// node pointing at it; the database is dropped when the test ends. Skips (or fails, see Lookup)
// when the variable is unset.
func GaleraURLs(t testing.TB) []string {
	t.Helper()
	raw := Lookup(t, GaleraURLsVar)
	name := databaseName()
	var out []string
	for i, base := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(base))
		if err != nil {
			t.Fatalf("%s: %v", GaleraURLsVar, err)
		}
		if i == 0 {
			admin := adminDB(t, "mysql", mysqlDSN(u))
			mustExec(t, admin, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
			t.Cleanup(func() { mustExec(t, admin, "DROP DATABASE IF EXISTS `"+name+"`") })
		}
		if i > 0 {
			// Galera applies the CREATE DATABASE on the other nodes a moment later.
			waitForDatabase(t, mysqlDSN(u), name)
		}
		u.Path = "/" + name
		out = append(out, u.String())
	}
	if len(out) < 3 {
		t.Fatalf("%s names %d nodes; the cluster tests need 3", GaleraURLsVar, len(out))
	}
	return out
}

// GaleraDir is the directory of the running test cluster (PORTCULLIS_TEST_GALERA_DIR), for
// galera.sh kill and rejoin. Skips (or fails, see Lookup) when unset.
func GaleraDir(t testing.TB) string {
	t.Helper()
	return Lookup(t, GaleraDirVar)
}

// waitForDatabase waits (up to 30 s) until the server of dsn has the database name.
func waitForDatabase(t testing.TB, dsn, name string) {
	t.Helper()
	db := adminDB(t, "mysql", dsn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("database %s did not reach %s: %v", name, dsn, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
