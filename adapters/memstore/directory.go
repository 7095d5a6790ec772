package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Users is also the in-process ports.UserDirectory over the same accounts.
var _ ports.UserDirectory = (*Users)(nil)

// Bounds of Users.List and AuditLog.List: a smaller or larger Limit is clamped. The upper
// bound is a guard against runaway queries, above the API's page size (200, plus the one row
// the application asks for to know whether another page follows).
const (
	minPageSize = 1
	maxPageSize = 1000
)

// List returns up to q.Limit users (clamped to 1..1000) matching q, ordered by (CreatedAt, ID),
// strictly after the cursor (q.AfterCreatedAt, q.AfterID); a zero cursor starts at the
// beginning. q.Q matches a substring of email, username or name case-insensitively (literally:
// % and _ are not wildcards), q.Role keeps users holding exactly that role and q.Disabled
// enabled or disabled users. Each call scans every user: fine for tests and small directories.
func (m *Users) List(ctx context.Context, q domain.UserQuery) ([]domain.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	needle := strings.ToLower(q.Q)
	cursor := !q.AfterCreatedAt.IsZero() || q.AfterID != ""
	m.mu.RLock()
	var out []domain.User
	for _, u := range m.byID {
		if cursor && compareUserKey(u, q.AfterCreatedAt, q.AfterID) <= 0 {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(u.Email), needle) &&
			!strings.Contains(strings.ToLower(u.Username), needle) &&
			!strings.Contains(strings.ToLower(u.Name), needle) {
			continue
		}
		if q.Role != "" && !u.HasRole(q.Role) {
			continue
		}
		if q.Disabled != nil && u.Disabled != *q.Disabled {
			continue
		}
		out = append(out, cloneUser(u))
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b domain.User) int { return compareUserKey(a, b.CreatedAt, b.ID) })
	if n := clampLimit(q.Limit); len(out) > n {
		out = out[:n]
	}
	if out == nil {
		out = []domain.User{}
	}
	return out, nil
}

// CountActiveAdmins counts users that hold the admin role and are not disabled.
func (m *Users) CountActiveAdmins(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("count active admins: %w", err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := 0
	for _, u := range m.byID {
		if u.ActiveAdmin() {
			n++
		}
	}
	return n, nil
}

// compareUserKey orders u against the key (at, id): by creation time, then by id.
func compareUserKey(u domain.User, at time.Time, id string) int {
	if c := u.CreatedAt.Compare(at); c != 0 {
		return c
	}
	return cmp.Compare(u.ID, id)
}

// newestFirst orders two records by creation time, newest first, then by id, highest first:
// the order the ports promise for listings, as the SQL stores' ORDER BY created_at DESC, id DESC.
func newestFirst(aCreated time.Time, aID string, bCreated time.Time, bID string) int {
	return cmp.Or(bCreated.Compare(aCreated), cmp.Compare(bID, aID))
}

// clampLimit bounds a requested page size to minPageSize..maxPageSize.
func clampLimit(n int) int { return min(max(n, minPageSize), maxPageSize) }
