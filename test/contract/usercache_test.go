package contract

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/usercache"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// countingUsers counts the ByID calls that reach the store behind a cache.
type countingUsers struct {
	ports.UserStore
	reads atomic.Int64
}

func (c *countingUsers) ByID(ctx context.Context, id string) (domain.User, error) {
	c.reads.Add(1)
	return c.UserStore.ByID(ctx, id)
}

type userInstance struct {
	cache *usercache.Cache
	inner *countingUsers
}

// cachedUsers is an instance on the SQLite file at path, with its own pool and data_version
// source, as a second process would have.
func cachedUsers(t *testing.T, path string) *userInstance {
	t.Helper()
	db := openSQL(t, "sqlite://"+path)
	ver, ok := sqlstore.NewDataVersion(db)
	if !ok {
		t.Fatal("no data version on SQLite")
	}
	t.Cleanup(func() { _ = ver.Close() })
	inner := &countingUsers{UserStore: sqlstore.NewUsers(db)}
	c, err := usercache.New(inner, 1000, ver)
	if err != nil {
		t.Fatal(err)
	}
	return &userInstance{cache: c, inner: inner}
}

// cachedPostgresUsers is an instance on the PostgreSQL database at url, with its own pool and
// its own listening connection (sqlstore.Changes), waiting until the feed is live.
func cachedPostgresUsers(t *testing.T, url string) *userInstance {
	t.Helper()
	db := openSQL(t, url)
	feed, ok := sqlstore.NewChanges(db, sqlstore.UserChanges, nil)
	if !ok {
		t.Fatal("no change feed on PostgreSQL")
	}
	inner := &countingUsers{UserStore: sqlstore.NewUsers(db)}
	c, err := usercache.New(inner, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, c.Start, c.Live, feed)
	return &userInstance{cache: c, inner: inner}
}

// userCaches opens two instances on one fresh database of each engine with a user cache, and a
// store without a cache on the same database (another process, such as the operator CLI).
var userCaches = map[string]func(t *testing.T) (a, b *userInstance, cli ports.UserStore){
	"SQLite": func(t *testing.T) (*userInstance, *userInstance, ports.UserStore) {
		path := filepath.Join(t.TempDir(), "portcullis.db")
		return cachedUsers(t, path), cachedUsers(t, path), sqlstore.NewUsers(openSQL(t, "sqlite://"+path))
	},
	"Postgres": func(t *testing.T) (*userInstance, *userInstance, ports.UserStore) {
		url := testenv.PostgresURL(t)
		return cachedPostgresUsers(t, url), cachedPostgresUsers(t, url), sqlstore.NewUsers(openSQL(t, url))
	},
}

// TestUserStoreCached runs the user-store contract through the cache on each engine that has one.
func TestUserStoreCached(t *testing.T) {
	for name, open := range userCaches {
		t.Run(name, func(t *testing.T) {
			UserStore(t, func(t *testing.T) ports.UserStore {
				a, _, _ := open(t)
				return a.cache
			})
		})
	}
}

// TestUserCache_ChangeOnAnotherInstance: a user that instance B has cached is read as changed by
// B on the very next request after instance A, or a process without a cache (the operator CLI),
// disables it, changes its roles or deletes it (SECURITY D35, H60). Half of B's reads carry the
// request's start (ports.WithRequestStart), as the HTTP adapter's do, so that a freshness check
// shared with an earlier read of the same request is exercised too.
func TestUserCache_ChangeOnAnotherInstance(t *testing.T) {
	for name, open := range userCaches {
		t.Run(name, func(t *testing.T) {
			a, b, cli := open(t)
			changeOnAnotherInstance(t, a, b, cli)
		})
	}
}

func changeOnAnotherInstance(t *testing.T, a, b *userInstance, cli ports.UserStore) {
	ctx := context.Background()
	request := func(i int) context.Context {
		if i%2 == 0 {
			return ports.WithRequestStart(ctx, time.Now())
		}
		return ctx
	}
	hits := 0
	const rounds = 120
	for i := range rounds {
		u := domain.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Name: "n",
			Roles: []domain.Role{domain.RoleUser}, PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := a.cache.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		// Read twice on B: the second read should be answered from memory.
		rctx := request(i)
		if _, err := b.cache.ByID(rctx, u.ID); err != nil {
			t.Fatal(err)
		}
		before := b.inner.reads.Load()
		got, err := b.cache.ByID(rctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if b.inner.reads.Load() == before {
			hits++
		}
		switch i % 4 {
		case 0: // disabled on A
			got.Disabled = true
			if _, err := a.cache.Update(ctx, got); err != nil {
				t.Fatal(err)
			}
			if now, err := b.cache.ByID(request(i), u.ID); err != nil || !now.Disabled {
				t.Fatalf("after a disable on instance A, instance B reads disabled=%v (%v)", now.Disabled, err)
			}
		case 1: // roles changed by a process without a cache
			got.Roles = []domain.Role{domain.RoleUser, domain.RoleAdmin}
			if _, err := cli.Update(ctx, got); err != nil {
				t.Fatal(err)
			}
			if now, err := b.cache.ByID(request(i), u.ID); err != nil || !now.HasRole(domain.RoleAdmin) {
				t.Fatalf("after a role change by another process, instance B reads roles %v (%v)", now.Roles, err)
			}
		case 2: // deleted on A
			if err := a.cache.Delete(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := b.cache.ByID(request(i), u.ID); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("after a delete on instance A, instance B reads the user: %v", err)
			}
		case 3: // password changed by another process
			got.PasswordHash = "y"
			if _, err := cli.Update(ctx, got); err != nil {
				t.Fatal(err)
			}
			if now, err := b.cache.ByID(request(i), u.ID); err != nil || now.PasswordHash != "y" {
				t.Fatalf("after a password change by another process, instance B reads the old hash (%v)", err)
			}
		}
	}
	// The cache must actually answer, or the test above proves nothing.
	if hits < rounds/2 {
		t.Fatalf("only %d of %d repeated reads were answered from the cache", hits, rounds)
	}
}
