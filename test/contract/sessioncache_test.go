package contract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sessioncache"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// countingStore counts the Get calls that reach the store behind a cache, so that a test can
// tell a cached answer from a read.
type countingStore struct {
	ports.SessionStore
	gets atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	c.gets.Add(1)
	return c.SessionStore.Get(ctx, id, now)
}

// instance is one Portcullis process's view of a shared session store: a cache over it.
type instance struct {
	cache *sessioncache.Cache
	inner *countingStore
	// drop ends the instance's invalidation connection from outside, as a network failure or
	// a server restart would.
	drop func(t *testing.T)
}

// cachedSQLite is an instance on the SQLite file at path, with its own connection pool (as a
// second process would have) and the data_version source.
func cachedSQLite(t *testing.T, path string) *instance {
	t.Helper()
	db := openSQL(t, "sqlite://"+path)
	ver, ok := sqlstore.NewDataVersion(db)
	if !ok {
		t.Fatal("no data version on SQLite")
	}
	t.Cleanup(func() { _ = ver.Close() })
	inner := &countingStore{SessionStore: sqlstore.NewSessions(db)}
	c, err := sessioncache.New(inner, 1000, ver)
	if err != nil {
		t.Fatal(err)
	}
	return &instance{cache: c, inner: inner}
}

// cachedRedis is an instance on the standalone Redis at url under prefix, with its own client
// and tracking connection, waiting until the feed is live.
func cachedRedis(t *testing.T, url, prefix string) *instance {
	t.Helper()
	name := "contract-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	client, err := redisstore.Open(t.Context(), url+sep+"client_name="+name, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	st, err := redisstore.NewSessions(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	feed, ok := redisstore.NewChanges(client, prefix, nil)
	if !ok {
		t.Fatal("no change feed on a standalone Redis")
	}
	inner := &countingStore{SessionStore: st}
	c, err := sessioncache.New(inner, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, c.Start, c.Live, feed)
	return &instance{cache: c, inner: inner, drop: func(t *testing.T) {
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		admin := redis.NewClient(opts)
		defer func() { _ = admin.Close() }()
		killClient(t, admin, name+"-tracking")
	}}
}

// cachedPostgres is an instance on the PostgreSQL database at url, with its own pool and its
// own listening connection (sqlstore.Changes), waiting until the feed is live.
func cachedPostgres(t *testing.T, url string) *instance {
	t.Helper()
	db := openSQL(t, url)
	feed, ok := sqlstore.NewChanges(db, sqlstore.SessionChanges, nil)
	if !ok {
		t.Fatal("no change feed on PostgreSQL")
	}
	inner := &countingStore{SessionStore: sqlstore.NewSessions(db)}
	c, err := sessioncache.New(inner, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, c.Start, c.Live, feed)
	return &instance{cache: c, inner: inner, drop: func(t *testing.T) { terminateBackend(t, db, feed.PID()) }}
}

// runFeed runs a cache's feed until the test ends and waits until it is live.
func runFeed(t *testing.T, start func(context.Context, sessioncache.Feed) (wait func()), live func() bool,
	feed sessioncache.Feed) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wait := start(ctx, feed)
	t.Cleanup(func() { cancel(); wait() })
	testenv.WaitUntil(t, "the invalidation feed is live", live)
}

// feedPairs open two instances, A and B, on a fresh store of each kind whose cache runs a feed.
var feedPairs = map[string]func(t *testing.T) (a, b *instance){
	"Redis": func(t *testing.T) (*instance, *instance) {
		url, prefix := testenv.RedisURL(t), testenv.RedisPrefix(t)
		return cachedRedis(t, url, prefix), cachedRedis(t, url, prefix)
	},
	"Postgres": func(t *testing.T) (*instance, *instance) {
		url := testenv.PostgresURL(t)
		return cachedPostgres(t, url), cachedPostgres(t, url)
	},
}

// terminateBackend ends the PostgreSQL server process pid (pg_terminate_backend), as an
// administrator or a server restart would end the connection it serves.
func terminateBackend(t *testing.T, db *sqlstore.DB, pid uint32) {
	t.Helper()
	if pid == 0 {
		t.Fatal("no listening connection to end")
	}
	var ok bool
	if err := db.Bun().NewRaw("SELECT pg_terminate_backend(?)", pid).Scan(context.Background(), &ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
	}
}

// cachedGet reports whether in comes to answer id from memory: whether a read of id is served
// without reaching the inner store.
func cachedGet(t *testing.T, in *instance, id string) bool {
	t.Helper()
	// A change feed delivers invalidations asynchronously, and the cache rightly refuses to answer
	// while one is unread, so the reads right after a write elsewhere may go to the store: read
	// until one is served without reaching the inner store, for a bounded time.
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		before := in.inner.gets.Load()
		if _, err := in.cache.Get(context.Background(), id, time.Now()); err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if in.inner.gets.Load() == before {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func mustBeGone(t *testing.T, in *instance, id, after string) {
	t.Helper()
	if s, err := in.cache.Get(context.Background(), id, time.Now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after %s the other instance still answers session %s: %+v, %v", after, id, s.ID, err)
	}
}

// TestSessionStoreCached runs the session-store contract through each cache, over the stores it
// is used with.
func TestSessionStoreCached(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		SessionStore(t, func(t *testing.T) ports.SessionStore {
			return cachedSQLite(t, filepath.Join(t.TempDir(), "portcullis.db")).cache
		})
	})
	t.Run("Redis", func(t *testing.T) {
		url := testenv.RedisURL(t)
		SessionStore(t, func(t *testing.T) ports.SessionStore {
			return cachedRedis(t, url, testenv.RedisPrefix(t)).cache
		})
	})
	t.Run("Postgres", func(t *testing.T) {
		SessionStore(t, func(t *testing.T) ports.SessionStore {
			return cachedPostgres(t, testenv.PostgresURL(t)).cache
		})
	})
}

// TestSessionCache_RevokeOnAnotherInstance: a session that instance B has cached is refused by
// B on the very next read after instance A (or another process that keeps no cache at all, such
// as the operator CLI or a bare Redis client) revokes it or changes its roles (SECURITY D35,
// H56, H60).
func TestSessionCache_RevokeOnAnotherInstance(t *testing.T) {
	ctx := context.Background()
	type store struct {
		a, b *instance
		// bare removes a session without any cache: another process.
		bare func(t *testing.T, id string)
	}
	stores := map[string]func(t *testing.T) store{
		"SQLite": func(t *testing.T) store {
			path := filepath.Join(t.TempDir(), "portcullis.db")
			a, b := cachedSQLite(t, path), cachedSQLite(t, path)
			cli := sqlstore.NewSessions(openSQL(t, "sqlite://"+path))
			return store{a: a, b: b, bare: func(t *testing.T, id string) {
				if err := cli.Delete(ctx, id); err != nil {
					t.Fatal(err)
				}
			}}
		},
		"Redis": func(t *testing.T) store {
			url, prefix := testenv.RedisURL(t), testenv.RedisPrefix(t)
			opts, err := redis.ParseURL(url)
			if err != nil {
				t.Fatal(err)
			}
			raw := redis.NewClient(opts)
			t.Cleanup(func() { _ = raw.Close() })
			return store{a: cachedRedis(t, url, prefix), b: cachedRedis(t, url, prefix), bare: func(t *testing.T, id string) {
				if err := raw.Del(ctx, prefix+"sess:{"+id+"}").Err(); err != nil {
					t.Fatal(err)
				}
			}}
		},
		"Postgres": func(t *testing.T) store {
			url := testenv.PostgresURL(t)
			raw := openSQL(t, url)
			return store{a: cachedPostgres(t, url), b: cachedPostgres(t, url), bare: func(t *testing.T, id string) {
				// A bare SQL statement, as an operator at psql would type it.
				if _, err := raw.Bun().NewRaw("DELETE FROM sessions WHERE id = ?", id).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}}
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			hits := 0
			const rounds = 150
			for i := range rounds {
				user := uuid.NewString()
				s := newSession(user, time.Now())
				if err := st.a.cache.Create(ctx, s, time.Now()); err != nil {
					t.Fatal(err)
				}
				if cachedGet(t, st.b, s.ID) {
					hits++
				}
				switch i % 4 {
				case 0:
					if err := st.a.cache.Delete(ctx, s.ID); err != nil {
						t.Fatal(err)
					}
					mustBeGone(t, st.b, s.ID, "a logout on instance A")
				case 1:
					if _, err := st.a.cache.DeleteByUser(ctx, user, time.Now()); err != nil {
						t.Fatal(err)
					}
					mustBeGone(t, st.b, s.ID, "a revoke of every session on instance A")
				case 2:
					st.bare(t, s.ID)
					mustBeGone(t, st.b, s.ID, "a removal by a process without a cache")
				case 3:
					if err := st.a.cache.SetRoles(ctx, user, []domain.Role{domain.RoleUser, domain.RoleAdmin}); err != nil {
						t.Fatal(err)
					}
					got, err := st.b.cache.Get(ctx, s.ID, time.Now())
					if err != nil || !domain.HasRole(got.Roles, domain.RoleAdmin) {
						t.Fatalf("after a role change on instance A, instance B answers roles %v (%v)", got.Roles, err)
					}
				}
			}
			// The cache must actually answer, or the test above proves nothing.
			if hits < rounds/2 {
				t.Fatalf("only %d of %d repeated reads were answered from the cache", hits, rounds)
			}
		})
	}
}

// TestSessionCache_RevokeUnderConcurrentReads: while many requests on instance B read a session
// it has cached, sharing the rounds of its barrier (Redis PINGs, SQLite data_version queries),
// every read on B that began after a revoke on instance A returned refuses the session
// (SECURITY D35, H60), whichever round it joined.
func TestSessionCache_RevokeUnderConcurrentReads(t *testing.T) {
	ctx := context.Background()
	stores := maps.Clone(feedPairs)
	stores["SQLite"] = func(t *testing.T) (*instance, *instance) {
		path := filepath.Join(t.TempDir(), "portcullis.db")
		return cachedSQLite(t, path), cachedSQLite(t, path)
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			const readers, rounds, readsAfter = 16, 20, 400
			var abandon atomic.Bool // the test failed early: readers stop
			defer abandon.Store(true)
			for round := range rounds {
				s := newSession(uuid.NewString(), time.Now())
				if err := a.cache.Create(ctx, s, time.Now()); err != nil {
					t.Fatal(err)
				}
				if !cachedGet(t, b, s.ID) {
					t.Fatalf("round %d: instance B did not cache the session", round)
				}
				var (
					revoked atomic.Bool
					// after counts the reads begun after the revoke returned, stale those of them
					// that found the session, ahead the reads before it that found it.
					after, stale, ahead atomic.Int64
					wg                  sync.WaitGroup
				)
				for range readers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for after.Load() < readsAfter && !abandon.Load() {
							begunAfter := revoked.Load()
							_, err := b.cache.Get(ctx, s.ID, time.Now())
							switch {
							case err != nil && !errors.Is(err, domain.ErrNotFound):
								t.Errorf("get %s: %v", s.ID, err)
								return
							case !begunAfter:
								if err == nil {
									ahead.Add(1)
								}
							default:
								after.Add(1)
								if err == nil {
									stale.Add(1)
								}
							}
						}
					}()
				}
				testenv.WaitUntil(t, "instance B's readers find the session", func() bool { return ahead.Load() >= readers })
				if err := a.cache.Delete(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				revoked.Store(true)
				wg.Wait()
				if n := stale.Load(); n > 0 {
					t.Fatalf("round %d: %d of %d reads on instance B begun after the revoke on A returned still found the session",
						round, n, after.Load())
				}
			}
		})
	}
}

// TestSessionCache_SubscriptionDrops: when instance B's invalidation connection is ended (Redis
// CLIENT KILL, PostgreSQL pg_terminate_backend), B answers nothing from memory — a session
// revoked right after the drop is refused on B's next read — and caches again, still exactly,
// once it has reconnected.
func TestSessionCache_SubscriptionDrops(t *testing.T) {
	for name, open := range feedPairs {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := open(t)
			for round := range 3 {
				s := newSession(uuid.NewString(), time.Now())
				if err := a.cache.Create(ctx, s, time.Now()); err != nil {
					t.Fatal(err)
				}
				if !cachedGet(t, b, s.ID) {
					t.Fatalf("round %d: instance B did not cache the session", round)
				}
				b.drop(t)
				// No waiting for B to notice: the revoke follows the drop at once.
				if err := a.cache.Delete(ctx, s.ID); err != nil {
					t.Fatal(err)
				}
				mustBeGone(t, b, s.ID, fmt.Sprintf("the subscription dropped (round %d)", round))
				// The watcher turns the cache off (it stays off for at least the reconnect
				// backoff), then on again once it has resubscribed.
				testenv.WaitUntil(t, "instance B's cache is off", func() bool { return !b.cache.Live() })
				testenv.WaitUntil(t, "instance B's feed is live again", b.cache.Live)
			}
		})
	}
}

// killClient kills the Redis connection named name (CLIENT LIST / CLIENT KILL ID).
func killClient(t *testing.T, admin *redis.Client, name string) {
	t.Helper()
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		list, err := admin.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(list, "\n") {
			fields := map[string]string{}
			for f := range strings.FieldsSeq(line) {
				k, v, _ := strings.Cut(f, "=")
				fields[k] = v
			}
			if fields["name"] == name {
				id = fields["id"]
			}
		}
		if id == "" && time.Now().After(deadline) {
			t.Fatalf("no Redis client named %s", name)
		}
	}
	if err := admin.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
		t.Fatalf("client kill %s: %v", id, err)
	}
}
