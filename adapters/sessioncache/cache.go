// Package sessioncache is a ports.SessionStore decorator that answers Get from memory where,
// and only where, every change to a session is seen at once. It sits in front of another
// session store (the source of truth) and implements the same port, so nothing else knows it
// exists (docs/architecture.md, "Adding an adapter").
//
// A cache may answer only when its invalidation is exact. Two sources of changes are supported,
// both given by the adapter that owns the store:
//
//   - a Feed pushes the id of every session any writer changes, and proves on demand that every
//     change acknowledged before a moment has been pushed (Sync, a read barrier). While the feed
//     is not live — before it first connects, and from the moment its connection fails until it
//     has subscribed again — the cache is empty and answers nothing; a Get answers from memory
//     only after a Sync begun after the Get began has succeeded. redisstore.Changes is the feed
//     of a standalone Redis (client tracking, and a PING on the tracking connection as the
//     barrier), sqlstore.Changes that of PostgreSQL (the sessions table's NOTIFY triggers, and a
//     query on the listening connection as the barrier).
//   - a Versioner returns a number that changes whenever any writer commits (sqlstore's
//     PRAGMA data_version on SQLite). Every Get asks for it; a different number empties the
//     cache before it is consulted.
//
// In both cases the cache's own writes (Create, Rotate, Delete, DeleteByUser, SetRoles) empty
// the entries they touch as soon as the inner store has answered. A session past its idle or
// absolute limit is never answered from memory. Stores with neither source (MySQL, Redis Cluster
// and Sentinel, memory) are not wrapped at all.
package sessioncache

import (
	"context"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/internal/memo"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Feed pushes the changes of a session store and is its read barrier (see memo.Feed).
type Feed = memo.Feed

// Versioner tells whether anything was committed to a store (see memo.Versioner).
type Versioner = memo.Versioner

// Cache is the decorator. Create it with New; it is safe for concurrent use.
type Cache struct {
	inner ports.SessionStore
	m     *memo.Cache[domain.Session]
}

// New wraps inner with a cache of size sessions. With ver the cache checks the store's version
// on every Get; without, it answers nothing until Start runs a Feed and the feed reports live.
func New(inner ports.SessionStore, size int, ver Versioner) (*Cache, error) {
	m, err := memo.New[domain.Session](size, ver)
	if err != nil {
		return nil, err
	}
	return &Cache{inner: inner, m: m}, nil
}

// Start runs feed until ctx ends, in its own goroutine; the returned function waits for it.
func (c *Cache) Start(ctx context.Context, feed Feed) (wait func()) { return c.m.Start(ctx, feed) }

// Live reports whether the cache may answer (for tests and metrics).
func (c *Cache) Live() bool { return c.m.Live() }

// invalidate forgets session id.
func (c *Cache) invalidate(id string) { c.m.Invalidate(id) }

// reset forgets every session.
func (c *Cache) reset() { c.m.Reset(nil) }

// Get answers from memory when the session is cached, the source is live and the session is
// within its limits at now; otherwise it reads the inner store and remembers a live session.
func (c *Cache) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	if !c.m.Usable(ctx) {
		return c.inner.Get(ctx, id, now)
	}
	if s, ok := c.m.Get(id); ok && s.Live(now) {
		return s.Clone(), nil
	}
	ticket := c.m.Ticket(id)
	s, err := c.inner.Get(ctx, id, now)
	if err != nil {
		return s, err
	}
	c.m.Fill(id, ticket, s.Clone())
	return s, nil
}

// Create stores s; a new id has nothing cached, but a failed Get may have raced it.
func (c *Cache) Create(ctx context.Context, s domain.Session, now time.Time) error {
	err := c.inner.Create(ctx, s, now)
	c.invalidate(s.ID)
	return err
}

// Rotate rotates in the inner store and forgets the session.
func (c *Cache) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	o, s, err := c.inner.Rotate(ctx, r)
	c.invalidate(r.SessionID)
	return o, s, err
}

// ListByUser reads the inner store.
func (c *Cache) ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error) {
	return c.inner.ListByUser(ctx, userID, now)
}

// Delete removes the session from the inner store and forgets it.
func (c *Cache) Delete(ctx context.Context, id string) error {
	err := c.inner.Delete(ctx, id)
	c.invalidate(id)
	return err
}

// DeleteByUser removes every session of the user and forgets every cached session (the cache
// does not index sessions by user; this is rare: password changes, disables, deletes).
func (c *Cache) DeleteByUser(ctx context.Context, userID string, now time.Time) (int, error) {
	n, err := c.inner.DeleteByUser(ctx, userID, now)
	c.reset()
	return n, err
}

// SetRoles updates the inner store and forgets every cached session.
func (c *Cache) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	err := c.inner.SetRoles(ctx, userID, roles)
	c.reset()
	return err
}

var _ ports.SessionStore = (*Cache)(nil)
