package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// DataVersion tells whether anything was committed to a SQLite database since it last looked:
// PRAGMA data_version on a connection of its own changes whenever another connection — of this
// process or of any other, such as the operator CLI — commits to the file (SQLite's
// documentation of the pragma). It is what makes a session cache on SQLite exact
// (adapters/sessioncache). Safe for concurrent use; calls are serialised on its connection.
type DataVersion struct {
	db *sql.DB

	mu   sync.Mutex
	conn *sql.Conn
	stmt *sql.Stmt
	gen  uint64 // bumped for every new connection, whose counter starts afresh
}

// NewDataVersion returns the version source of db, or false when db is not SQLite (MySQL and
// PostgreSQL have no such cheap, exact signal).
func NewDataVersion(db *DB) (*DataVersion, bool) {
	if db.Kind() != SQLite {
		return nil, false
	}
	return &DataVersion{db: db.bun.DB}, true
}

// Version returns a number that differs from the previous one whenever any other connection has
// committed since. It holds one pooled connection from its first call until Close.
func (v *DataVersion) Version(ctx context.Context) (uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stmt == nil {
		conn, err := v.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("data version: %w", err)
		}
		stmt, err := conn.PrepareContext(ctx, "PRAGMA data_version")
		if err != nil {
			_ = conn.Close()
			return 0, fmt.Errorf("data version: %w", err)
		}
		v.conn, v.stmt = conn, stmt
		v.gen++
	}
	var n uint64
	if err := v.stmt.QueryRowContext(ctx).Scan(&n); err != nil {
		v.closeLocked()
		return 0, fmt.Errorf("data version: %w", err)
	}
	return v.gen<<40 | n, nil
}

// Close gives the connection back.
func (v *DataVersion) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closeLocked()
	return nil
}

func (v *DataVersion) closeLocked() {
	if v.stmt != nil {
		_ = v.stmt.Close()
		_ = v.conn.Close()
		v.stmt, v.conn = nil, nil
	}
}
