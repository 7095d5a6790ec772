// Package usercache is a ports.UserStore decorator that answers ByID from memory where, and only
// where, every change to a user is seen at once: on SQLite, whose PRAGMA data_version changes
// whenever any connection of any process commits (sqlstore.DataVersion), and on PostgreSQL,
// whose users table NOTIFYs every change to a listening connection (sqlstore.Changes). It is the
// user-side twin of adapters/sessioncache, for the same reason: GET /api/users/me reads the user
// on every request, and on SQLite that read was a third of the process's CPU under load.
//
// With a Versioner every ByID asks it first; a number that differs from the last one empties the
// cache before it is consulted. With a Feed every ByID waits for the feed's read barrier, and the
// cache answers nothing while the feed is not live. Either way a change committed anywhere
// before the call began (a disable, a role change, a password change, a delete by the operator
// CLI) is never answered from memory. The cache's own writes (Create, Update, Delete and their
// last-admin forms) forget the user as soon as the inner store has answered. ByEmail and
// ByUsername (login, registration) always read the store. MySQL has no such signal and is not
// wrapped.
package usercache

import (
	"context"
	"slices"

	"github.com/portcullis-auth/portcullis/adapters/internal/memo"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Versioner tells whether anything was committed to a store (see memo.Versioner).
type Versioner = memo.Versioner

// Feed pushes the changes of a user store and is its read barrier (see memo.Feed).
type Feed = memo.Feed

// Cache is the decorator; create it with New. It is safe for concurrent use.
type Cache struct {
	inner ports.UserStore
	m     *memo.Cache[domain.User]
}

// New wraps inner with a cache of size users, checked against ver on every ByID; without ver it
// answers nothing until Start runs a Feed and the feed reports live.
func New(inner ports.UserStore, size int, ver Versioner) (*Cache, error) {
	m, err := memo.New[domain.User](size, ver)
	if err != nil {
		return nil, err
	}
	return &Cache{inner: inner, m: m}, nil
}

// Start runs feed until ctx ends, in its own goroutine, for a cache made without a Versioner;
// the returned function waits for it. Until the feed reports live the cache answers nothing.
func (c *Cache) Start(ctx context.Context, feed Feed) (wait func()) { return c.m.Start(ctx, feed) }

// Live reports whether the cache may answer (for tests).
func (c *Cache) Live() bool { return c.m.Live() }

func (c *Cache) invalidate(id string) { c.m.Invalidate(id) }

func clone(u domain.User) domain.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// ByID answers from memory when the user is cached and nothing was committed since it was read;
// otherwise it reads the inner store and remembers the user.
func (c *Cache) ByID(ctx context.Context, id string) (domain.User, error) {
	if !c.m.Usable(ctx) {
		return c.inner.ByID(ctx, id)
	}
	if u, ok := c.m.Get(id); ok {
		return clone(u), nil
	}
	ticket := c.m.Ticket(id)
	u, err := c.inner.ByID(ctx, id)
	if err != nil {
		return u, err
	}
	c.m.Fill(id, ticket, clone(u))
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

// UpdateUnlessLastAdmin writes u in the inner store under its last-admin rule and forgets the
// user.
func (c *Cache) UpdateUnlessLastAdmin(ctx context.Context, u domain.User) (domain.User, error) {
	out, err := c.inner.UpdateUnlessLastAdmin(ctx, u)
	c.invalidate(u.ID)
	return out, err
}

var _ ports.UserStore = (*Cache)(nil)
