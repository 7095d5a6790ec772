package sqlstore

import (
	"context"
	"strings"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// Bounds of Directory.List and AuditLog.List: a smaller or larger Limit is clamped. The upper
// bound is a guard against runaway queries, above the API's page size (200, plus the one row
// the application asks for to know whether another page follows).
const (
	minPageSize = 1
	maxPageSize = 1000
)

// Directory is the SQL ports.UserDirectory over the users table. Pages are keyset pages in
// (created_at, id) order, served by the users_created_at_id_idx index, so a page costs the same
// however deep it is and users inserted meanwhile never shift the pages that follow.
type Directory struct {
	db   bun.IDB
	kind Kind
}

var _ ports.UserDirectory = (*Directory)(nil)

// NewDirectory returns the user directory of db.
func NewDirectory(db *DB) *Directory { return &Directory{db: db.bun, kind: db.kind} }

// List returns up to q.Limit users (clamped to 1..1000) matching q, ordered by (CreatedAt, ID),
// strictly after the cursor (q.AfterCreatedAt, q.AfterID); a zero cursor starts at the
// beginning. q.Q matches a substring of email, username or name case-insensitively, with % and _
// taken literally (on SQLite, case folding covers ASCII letters only). q.Role keeps users holding
// exactly that role, q.Disabled enabled or disabled users.
func (d *Directory) List(ctx context.Context, q domain.UserQuery) ([]domain.User, error) {
	var rows []userRow
	sel := d.db.NewSelect().Model(&rows)
	if !q.AfterCreatedAt.IsZero() || q.AfterID != "" {
		at := dbTime(q.AfterCreatedAt)
		sel.Where("(u.created_at > ? OR (u.created_at = ? AND u.id > ?))", at, at, q.AfterID)
	}
	if q.Q != "" {
		p := "%" + escapeLike(strings.ToLower(q.Q)) + "%"
		sel.Where("(LOWER(u.email) LIKE ? ESCAPE '!' OR LOWER(u.username) LIKE ? ESCAPE '!' OR LOWER(u.name) LIKE ? ESCAPE '!')",
			p, p, p)
	}
	if q.Role != "" {
		if strings.Contains(string(q.Role), ",") {
			return []domain.User{}, nil // no stored role holds the separator
		}
		whereRole(sel, d.kind, q.Role)
	}
	if q.Disabled != nil {
		sel.Where("u.disabled = ?", *q.Disabled)
	}
	err := sel.OrderExpr("u.created_at ASC, u.id ASC").Limit(int64(clampLimit(q.Limit))).Scan(ctx)
	if err != nil {
		return nil, translate("list users", err)
	}
	users := make([]domain.User, len(rows))
	for i, r := range rows {
		users[i] = r.toDomain()
	}
	return users, nil
}

// CountActiveAdmins counts users that hold the admin role and are not disabled.
func (d *Directory) CountActiveAdmins(ctx context.Context) (int, error) {
	sel := d.db.NewSelect().Model((*userRow)(nil)).Where("u.disabled = ?", false)
	whereRole(sel, d.kind, domain.RoleAdmin)
	n, err := sel.Count(ctx)
	if err != nil {
		return 0, translate("count active admins", err)
	}
	return int(n), nil
}

// whereRole keeps users whose comma-separated roles hold role as a whole item, on an engine of
// kind, compared byte for byte: ",user,admin," contains ",admin," but ",superadmin," does not.
// Plain substring search (not LIKE) keeps SQLite's and MySQL's case-insensitive LIKE out of it.
func whereRole(sel *bun.SelectQuery, kind Kind, role domain.Role) {
	item := "," + string(role) + ","
	switch kind {
	case MySQL:
		sel.Where("INSTR(CONCAT(',', u.roles, ',') COLLATE utf8mb4_bin, ?) > 0", item)
	case Postgres:
		sel.Where("strpos(',' || u.roles || ',', ?) > 0", item)
	default:
		sel.Where("instr(',' || u.roles || ',', ?) > 0", item)
	}
}

// escapeLike makes s match itself literally in a LIKE pattern with ESCAPE '!'.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// clampLimit bounds a requested page size to minPageSize..maxPageSize.
func clampLimit(n int) int { return min(max(n, minPageSize), maxPageSize) }
