// Package memo is what the session and user caches (adapters/sessioncache, adapters/usercache)
// share: the rule that a cache never answers with a value older than an invalidation it has
// seen. Values are kept by id; a fill that raced an invalidation of its id, or a reset, is not
// kept; and with a Versioner the cache empties itself whenever the store reports a commit.
//
// The order is the whole point: a reader takes a Ticket before it reads the source and Fills
// with it after; an invalidation, which holds the write lock, moves the ticket on, so the
// stale value the reader brings back is dropped instead of stored.
package memo

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/maypok86/otter/v2"
)

// Versioner tells whether anything was committed to a store: Version returns a number that
// differs from the last one whenever any writer (this process or another) has committed since.
type Versioner interface {
	Version(ctx context.Context) (uint64, error)
}

// stripes is how many invalidation counters the ids are spread over.
const stripes = 256

// Cache keeps values of type V by id. Create it with New; it is safe for concurrent use.
type Cache[V any] struct {
	c    *otter.Cache[string, V]
	seed maphash.Seed

	// mu orders filling against invalidation: a fill holds it shared and checks that nothing
	// was invalidated since its ticket was taken; an invalidation holds it exclusively.
	mu      sync.RWMutex
	epoch   atomic.Uint64
	stripes [stripes]atomic.Uint64

	ver     Versioner // nil: the owner invalidates by other means (a change feed)
	verMu   sync.Mutex
	version uint64
	known   bool // version holds a value
}

// New returns a cache of at most size values, checked against ver by Sync (ver may be nil).
func New[V any](size int, ver Versioner) (*Cache[V], error) {
	c, err := otter.New(&otter.Options[string, V]{MaximumSize: size})
	if err != nil {
		return nil, err
	}
	return &Cache[V]{c: c, seed: maphash.MakeSeed(), ver: ver}, nil
}

// Versioned reports whether the cache has a Versioner.
func (c *Cache[V]) Versioned() bool { return c.ver != nil }

// Get returns the value kept for id.
func (c *Cache[V]) Get(id string) (V, bool) { return c.c.GetIfPresent(id) }

// Ticket is what a reader holds between taking it (before reading the source) and Fill.
type Ticket struct{ epoch, stripe uint64 }

// Ticket is taken before the source is read for id.
func (c *Cache[V]) Ticket(id string) Ticket {
	return Ticket{epoch: c.epoch.Load(), stripe: c.stripe(id).Load()}
}

// Fill keeps v for id if nothing that touches id was invalidated since t was taken and keep
// (nil: always; called under the lock that orders fills against invalidations) says so.
func (c *Cache[V]) Fill(id string, t Ticket, v V, keep func() bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if (keep == nil || keep()) && c.epoch.Load() == t.epoch && c.stripe(id).Load() == t.stripe {
		c.c.Set(id, v)
	}
}

// Invalidate forgets id, and any fill of id in flight.
func (c *Cache[V]) Invalidate(id string) {
	c.mu.Lock()
	c.stripe(id).Add(1)
	c.c.Invalidate(id)
	c.mu.Unlock()
}

// Reset forgets every value, and every fill in flight; then, still holding the lock that
// orders fills against invalidations, it runs also (nil: nothing).
func (c *Cache[V]) Reset(also func()) {
	c.mu.Lock()
	c.epoch.Add(1)
	c.c.InvalidateAll()
	if also != nil {
		also()
	}
	c.mu.Unlock()
}

// Sync empties the cache when the Versioner's number moved since the last call. False (an
// error, or no Versioner) means it cannot tell: the caller reads the store.
func (c *Cache[V]) Sync(ctx context.Context) bool {
	if c.ver == nil {
		return false
	}
	v, err := c.ver.Version(ctx)
	if err != nil {
		return false
	}
	c.verMu.Lock()
	defer c.verMu.Unlock()
	if !c.known || v != c.version {
		c.Reset(nil)
		c.version, c.known = v, true
	}
	return true
}

func (c *Cache[V]) stripe(id string) *atomic.Uint64 {
	return &c.stripes[maphash.String(c.seed, id)%stripes]
}
