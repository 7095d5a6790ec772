package contract

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The backends the suites run the adapters on, with one opener per kind: the SQL engines
// (eachSQLEngine, sqlEngine.open) and Redis, standalone or cluster (openRedisStore and its
// per-store forms). The other test files here only say which store they build on which.

// sqlEngine is one engine the SQL adapter runs on and how a test gets a fresh database there.
type sqlEngine struct {
	name string
	url  func(t *testing.T) string
}

// sqlEngines: a file in the test's temporary directory for SQLite, a throwaway database on
// the servers named by PORTCULLIS_TEST_MYSQL_URL and PORTCULLIS_TEST_POSTGRES_URL otherwise
// (skipped when unset).
var sqlEngines = []sqlEngine{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "portcullis.db") }},
	{"MySQL", func(t *testing.T) string { return testenv.MySQLURL(t) }},
	{"Postgres", func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

// eachSQLEngine runs f as one subtest per SQL engine, named after it.
func eachSQLEngine(t *testing.T, f func(t *testing.T, e sqlEngine)) {
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

// open opens and migrates a fresh database on e, closed when the test ends.
func (e sqlEngine) open(t *testing.T) *sqlstore.DB {
	t.Helper()
	return openSQL(t, e.url(t))
}

// openSQL opens and migrates the database at url, closed when the test ends.
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

// redisClusterURL is the redis+cluster:// URL of the Redis Cluster named by
// PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS (skipped when unset).
func redisClusterURL(t *testing.T) string {
	t.Helper()
	return "redis+cluster://" + strings.Join(testenv.RedisClusterAddrs(t), ",")
}

// openRedisSessions is the Redis session store on url under prefix (see openRedisStore).
func openRedisSessions(t *testing.T, url, prefix string) ports.SessionStore {
	t.Helper()
	return openRedisStore(t, url, prefix, redisstore.NewSessions)
}

// openRedisLimiter is the Redis rate limiter on url under prefix (see openRedisStore).
func openRedisLimiter(t *testing.T, url, prefix string) ports.RateLimiter {
	t.Helper()
	return openRedisStore(t, url, prefix, redisstore.NewRateLimiter)
}

// openRedisStore opens a client on url (a cluster client exactly when url names a cluster;
// closed when the test ends) and builds a store over it with newStore under prefix.
func openRedisStore[S any](t *testing.T, url, prefix string, newStore func(redis.UniversalClient, string) (S, error)) S {
	t.Helper()
	c, err := redisstore.Open(t.Context(), url, redisstore.Options{PoolSize: 64})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, ok := c.(*redis.ClusterClient); ok != strings.Contains(url, "+cluster") {
		t.Fatalf("open %s: got %T", url, c)
	}
	st, err := newStore(c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
