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
	"slices"

	"github.com/portcullis-auth/portcullis/adapters/internal/memo"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Versioner tells whether anything was committed to a store (see memo.Versioner).
type Versioner = memo.Versioner

// Cache is the decorator; create it with New. It is safe for concurrent use.
type Cache struct {
	inner ports.UserStore
	m     *memo.Cache[domain.User]
}

// New wraps inner with a cache of size users, checked against ver on every ByID.
func New(inner ports.UserStore, size int, ver Versioner) (*Cache, error) {
	m, err := memo.New[domain.User](size, ver)
	if err != nil {
		return nil, err
	}
	return &Cache{inner: inner, m: m}, nil
}

func (c *Cache) invalidate(id string) { c.m.Invalidate(id) }

func clone(u domain.User) domain.User {
	u.Roles = slices.Clone(u.Roles)
	return u
}

// ByID answers from memory when the user is cached and nothing was committed since it was read;
// otherwise it reads the inner store and remembers the user.
func (c *Cache) ByID(ctx context.Context, id string) (domain.User, error) {
	if !c.m.Sync(ctx) {
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
	c.m.Fill(id, ticket, clone(u), nil)
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
