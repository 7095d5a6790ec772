package sqlstore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// prepared is one statement of the hot path (a user or session by id, a rotation), prepared
// once per connection on SQLite and reused with bound arguments.
//
// Bun writes every argument into the SQL text, so each call is a new text that SQLite parses and
// plans again: profiles of GET /api/users/me and POST /api/auth/refresh on SQLite spent about a
// fifth of the process's CPU in SQLite's parser. A prepared statement skips it. MySQL and
// PostgreSQL keep Bun's interpolated queries (one round trip each; the network, not parsing,
// dominates there, and a server-side statement per connection would be one more thing to
// invalidate on failover).
type prepared struct {
	build func(db *bun.DB) string // the SQL text, with ? placeholders

	mu  sync.Mutex // serialises preparing
	cur atomic.Pointer[preparedOn]
}

type preparedOn struct {
	db   *bun.DB
	stmt *sql.Stmt
}

func newPrepared(build func(db *bun.DB) string) *prepared { return &prepared{build: build} }

// get returns the statement on db, or nil when db is not SQLite (or idb is a transaction): the
// caller then runs its Bun query.
func (p *prepared) get(ctx context.Context, idb bun.IDB) (*bun.DB, *sql.Stmt, error) {
	db, ok := idb.(*bun.DB)
	if !ok || db.Dialect().Name() != dialect.SQLite {
		return nil, nil, nil
	}
	if c := p.cur.Load(); c != nil && c.db == db {
		return db, c.stmt, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.cur.Load(); c != nil && c.db == db {
		return db, c.stmt, nil
	}
	stmt, err := db.DB.PrepareContext(ctx, p.build(db))
	if err != nil {
		return nil, nil, err
	}
	p.cur.Store(&preparedOn{db: db, stmt: stmt})
	return db, stmt, nil
}

// scan reads the single row of p's statement with args into dest (a Bun model) on SQLite, or
// runs query, the same read as a Bun query, elsewhere.
func (p *prepared) scan(ctx context.Context, idb bun.IDB, dest any, query func() error, args ...any) error {
	db, stmt, err := p.get(ctx, idb)
	switch {
	case err != nil:
		return err
	case stmt != nil:
		return scanOne(ctx, db, stmt, dest, args...)
	}
	return query()
}

// scanOne runs stmt with args and scans its single row into dest (a Bun model); no row is
// sql.ErrNoRows, as Bun's Scan reports it.
func scanOne(ctx context.Context, db *bun.DB, stmt *sql.Stmt, dest any, args ...any) error {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := db.ScanRow(ctx, rows, dest); err != nil {
		return err
	}
	for rows.Next() { // SQLite may report an error on a later step (Bun does the same)
	}
	return rows.Err()
}

// argTime is a time bound to a placeholder, as the text Bun's SQLite dialect writes for a time
// literal, so that the string comparisons of the stored times (idle_expires_at > ?) compare
// like with like.
func argTime(t time.Time) any {
	return t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
}

// argBytes is a byte slice bound to a placeholder: nil is NULL, as in Bun's queries (a nil
// slice would otherwise bind as an empty blob).
func argBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
