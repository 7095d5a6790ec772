// Package usercache is a ports.UserStore decorator that answers ByID from memory where, and only
// where, every change to a user is seen at once: on SQLite, whose PRAGMA data_version changes
// whenever any connection of any process commits (sqlstore.DataVersion). It is the user-side twin
// of adapters/sessioncache, for the same reason: GET /api/users/me reads the user on every
// request, and on SQLite that read was a third of the process's CPU under load.
//
// Every ByID asks the Versioner first; a number that differs from the last one empties the cache
// before it is consulted, so a change committed anywhere before the call began (a disable, a role
// change, a password change, a delete by the operator CLI) is never answered from memory. The
// cache's own writes (Create, Update, Delete) forget the user as soon as the inner store has
// answered. ByEmail and ByUsername (login, registration) always read the store. MySQL and
// PostgreSQL have no such signal and are not wrapped.
package usercache

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/maypok86/otter/v2"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Versioner tells whether anything was committed to a store: Version returns a number that
// differs from the last one whenever any writer has committed since the call began.
type Versioner interface {
	Version(ctx context.Context) (uint64, error)
}

const stripes = 256

// Cache is the decorator; create it with New. It is safe for concurrent use.
type Cache struct {
	inner ports.UserStore
	ver   Versioner
	c     *otter.Cache[string, domain.User]
	seed  maphash.Seed

	// mu orders filling against invalidation, as in sessioncache: a fill holds it shared and
	// checks that nothing was invalidated since its read began.
	mu      sync.RWMutex
	epoch   atomic.Uint64
	stripes [stripes]atomic.Uint64

	verMu   sync.Mutex
	version uint64
	known   bool
}

// New wraps inner with a cache of size users, checked against ver on every ByID.
func New(inner ports.UserStore, size int, ver Versioner) (*Cache, error) {
	c, err := otter.New(&otter.Options[string, domain.User]{MaximumSize: size})
	if err != nil {
		return nil, err
	}
	return &Cache{inner: inner, ver: ver, c: c, seed: maphash.MakeSeed()}, nil
}

func (c *Cache) stripe(id string) *atomic.Uint64 {
	return &c.stripes[maphash.String(c.seed, id)%stripes]
}

func (c *Cache) invalidate(id string) {
	c.mu.Lock()
	c.stripe(id).Add(1)
	c.c.Invalidate(id)
	c.mu.Unlock()
}

func (c *Cache) reset() {
	c.mu.Lock()
	c.epoch.Add(1)
	c.c.InvalidateAll()
	c.mu.Unlock()
}

// sync empties the cache when the store's version moved; false (an error) means: read the store.
func (c *Cache) sync(ctx context.Context) bool {
	v, err := c.ver.Version(ctx)
	if err != nil {
		return false
	}
	c.verMu.Lock()
	defer c.verMu.Unlock()
	if !c.known || v != c.version {
		c.reset()
		c.version, c.known = v, true
	}
	return true
}

func clone(u domain.User) domain.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// ByID answers from memory when the user is cached and nothing was committed since it was read;
// otherwise it reads the inner store and remembers the user.
func (c *Cache) ByID(ctx context.Context, id string) (domain.User, error) {
	if !c.sync(ctx) {
		return c.inner.ByID(ctx, id)
	}
	if u, ok := c.c.GetIfPresent(id); ok {
		return clone(u), nil
	}
	epoch, stripe := c.epoch.Load(), c.stripe(id).Load()
	u, err := c.inner.ByID(ctx, id)
	if err != nil {
		return u, err
	}
	c.mu.RLock()
	if c.epoch.Load() == epoch && c.stripe(id).Load() == stripe {
		c.c.Set(id, clone(u))
	}
	c.mu.RUnlock()
	return u, nil
}

// ByEmail reads the inner store.
func (c *Cache) ByEmail(ctx context.Context, normalizedEmail string) (domain.User, error) {
	return c.inner.ByEmail(ctx, normalizedEmail)
}

// ByUsername reads the inner store.
func (c *Cache) ByUsername(ctx context.Context, username string) (domain.User, error) {
	return c.inner.ByUsername(ctx, username)
}

// Create stores u; a failed ByID may have raced it.
func (c *Cache) Create(ctx context.Context, u domain.User) error {
	err := c.inner.Create(ctx, u)
	c.invalidate(u.ID)
	return err
}

// Update writes u in the inner store and forgets the user.
func (c *Cache) Update(ctx context.Context, u domain.User) (domain.User, error) {
	out, err := c.inner.Update(ctx, u)
	c.invalidate(u.ID)
	return out, err
}

// Delete removes the user from the inner store and forgets it.
func (c *Cache) Delete(ctx context.Context, id string) error {
	err := c.inner.Delete(ctx, id)
	c.invalidate(id)
	return err
}

var _ ports.UserStore = (*Cache)(nil)
