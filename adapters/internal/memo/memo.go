// Package memo is what the session and user caches (adapters/sessioncache, adapters/usercache)
// share: the rule that a cache never answers with a value older than an invalidation it has
// seen. Values are kept by id; a fill that raced an invalidation of its id, or a reset, is not
// kept; with a Versioner the cache empties itself whenever the store reports a commit; with a
// Feed it forgets what the feed reports changed, and answers only while the feed is live and
// after the feed's read barrier.
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

// Feed pushes the changes of a store. Watch runs until ctx ends: it calls live(true) once every
// change from then on will be reported, changed(id) for each value any writer changes or
// removes, reset() when it cannot say which (a flush, a truncate, an unknown key), and
// live(false) as soon as changes may be missed (a lost connection), before trying again.
//
// Sync returns once every change acknowledged to its writer before Sync was called has been
// reported through changed or reset; an error means it cannot tell, and the cache answers
// nothing for that call.
type Feed interface {
	Watch(ctx context.Context, changed func(id string), reset func(), live func(bool))
	Sync(ctx context.Context) error
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

	live atomic.Bool             // changes are all seen (always with a Versioner; with a feed, while it is live)
	feed atomic.Pointer[feedBox] // set by Start
}

type feedBox struct{ Feed }

// New returns a cache of at most size values, checked against ver by Usable (ver may be nil:
// then the cache answers nothing until Start runs a feed and the feed reports live).
func New[V any](size int, ver Versioner) (*Cache[V], error) {
	c, err := otter.New(&otter.Options[string, V]{MaximumSize: size})
	if err != nil {
		return nil, err
	}
	m := &Cache[V]{c: c, seed: maphash.MakeSeed(), ver: ver}
	m.live.Store(ver != nil)
	return m, nil
}

// Start runs feed until ctx ends, in its own goroutine; the returned function waits for it.
// Until the feed reports live the cache answers nothing.
func (c *Cache[V]) Start(ctx context.Context, feed Feed) (wait func()) {
	c.feed.Store(&feedBox{feed})
	done := make(chan struct{})
	go func() {
		defer close(done)
		feed.Watch(ctx, c.Invalidate, func() { c.Reset(nil) }, c.setLive)
		c.setLive(false)
	}()
	return func() { <-done }
}

// Live reports whether the cache may answer at all: it has a Versioner, or a live feed.
func (c *Cache[V]) Live() bool { return c.live.Load() }

// setLive turns answering on or off; either way everything kept so far is forgotten (changes
// before the feed was live were not reported).
func (c *Cache[V]) setLive(on bool) { c.Reset(func() { c.live.Store(on) }) }

// Usable is asked at the start of every read: true means the cache may answer it from memory
// and keep what the read brings back. It is false while no change source is live, and when
// the source cannot show that every change acknowledged before the call has been seen (the
// Versioner's number could not be read, or the feed's Sync failed): the caller then reads the
// store and keeps nothing.
func (c *Cache[V]) Usable(ctx context.Context) bool {
	if !c.live.Load() {
		return false
	}
	if c.ver != nil && !c.syncVersion(ctx) {
		return false
	}
	if f := c.feed.Load(); f != nil && f.Sync(ctx) != nil {
		return false
	}
	return true
}

// Get returns the value kept for id.
func (c *Cache[V]) Get(id string) (V, bool) { return c.c.GetIfPresent(id) }

// Ticket is what a reader holds between taking it (before reading the source) and Fill.
type Ticket struct{ epoch, stripe uint64 }

// Ticket is taken before the source is read for id.
func (c *Cache[V]) Ticket(id string) Ticket {
	return Ticket{epoch: c.epoch.Load(), stripe: c.stripe(id).Load()}
}

// Fill keeps v for id if nothing that touches id was invalidated since t was taken and the
// change source is still live (checked under the lock that orders fills against
// invalidations, which turning the feed off also takes).
func (c *Cache[V]) Fill(id string, t Ticket, v V) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.live.Load() && c.epoch.Load() == t.epoch && c.stripe(id).Load() == t.stripe {
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

// syncVersion empties the cache when the Versioner's number moved since the last call. False
// (an error) means it cannot tell.
func (c *Cache[V]) syncVersion(ctx context.Context) bool {
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
