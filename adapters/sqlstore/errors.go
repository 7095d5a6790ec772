package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/uptrace/bun"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// translate turns a driver error into a domain error, wrapped with the operation: no row becomes
// domain.ErrNotFound, a unique violation domain.ErrConflict, and an error that means the database
// cannot be reached (or is too slow or busy to answer) is wrapped with domain.ErrUnavailable.
// Context errors stay matchable with errors.Is. Anything else is wrapped unchanged.
func translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	case isUniqueViolation(err):
		if field := uniqueField(err); field != "" {
			return fmt.Errorf("%s: %w", op, &domain.ConflictError{Field: field})
		}
		return fmt.Errorf("%s: %w", op, domain.ErrConflict)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", op, err)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w", op, unavailable(err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable marks err as domain.ErrUnavailable, keeping err itself matchable.
func unavailable(err error) error {
	if errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
}

func isUniqueViolation(err error) bool {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1062 // ER_DUP_ENTRY
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505" // unique_violation
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		c := lite.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// isUnavailable reports errors that a retry later could cure: the server is down, unreachable,
// overloaded, shutting down, locked or too slow for the caller's deadline.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1040, // too many connections
			1047,                   // (Galera) WSREP has not yet prepared node for application use
			1053,                   // server shutdown in progress
			1205,                   // lock wait timeout
			1213,                   // deadlock
			2002, 2003, 2006, 2013: // cannot connect, server gone away, lost connection
			return true
		}
		return false
	}
	var pgConnect *pgconn.ConnectError
	if errors.As(err, &pgConnect) || pgconn.Timeout(err) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case strings.HasPrefix(pg.Code, "08"), // connection exception
			strings.HasPrefix(pg.Code, "53"),       // insufficient resources
			strings.HasPrefix(pg.Code, "57P"),      // operator intervention: shutdown, cannot connect now
			pg.Code == "40001", pg.Code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return true
		}
		return false
	}
	// database/sql reports a closed pool with an unexported error.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// mustAffect turns an UPDATE or DELETE that matched no row into domain.ErrNotFound.
func mustAffect(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return translate(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, domain.ErrNotFound)
	}
	return nil
}

// uniqueField names the user field whose unique index err violated, from the index name
// (MySQL, PostgreSQL: users_email_key, users_username_key) or the column (SQLite: users.email),
// or "" for any other unique violation.
func uniqueField(err error) string {
	msg := err.Error()
	for _, field := range []string{"email", "username"} {
		if strings.Contains(msg, "users_"+field+"_key") || strings.Contains(msg, "users."+field) {
			return field
		}
	}
	return ""
}

// isSQLiteBusy reports SQLite's "database is locked" (SQLITE_BUSY or SQLITE_LOCKED).
func isSQLiteBusy(err error) bool {
	var lite *sqlite.Error
	if !errors.As(err, &lite) {
		return false
	}
	code := lite.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// txAttempts bounds how often a statement or transaction that lost a deadlock, a serialization
// conflict or (on MariaDB Galera Cluster) certification to a concurrent write on another node is
// run in all before the failure is reported (as domain.ErrUnavailable).
const txAttempts = 5

// retryConflict runs op, and runs it again after a short random pause while it fails with
// isTxConflict, txAttempts times at most. The engine rolled the statement or transaction back,
// so running it again is safe. On idb that is a transaction (a store used With a bun.Tx) it runs
// op once: the whole transaction must be retried by its owner.
func retryConflict(ctx context.Context, idb bun.IDB, op func() error) error {
	attempts := txAttempts
	switch idb.(type) {
	case bun.Tx, *bun.Tx:
		attempts = 1
	}
	var err error
	for attempt := range attempts {
		if attempt > 0 {
			// Spread the retries of callers that collided on one row.
			pause := time.Duration(1+rand.IntN(4<<attempt)) * time.Millisecond
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
		}
		if err = op(); !isTxConflict(err) {
			return err
		}
	}
	return err
}

// isTxConflict reports an error after which the transaction was rolled back and may simply be
// run again: a deadlock, which is also how Galera reports a failed certification (MySQL 1213),
// or a serialization failure or deadlock of PostgreSQL.
func isTxConflict(err error) bool {
	if err == nil {
		return false
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1213 // ER_LOCK_DEADLOCK
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40P01" || pg.Code == "40001" // deadlock, serialization failure
	}
	return false
}

// execer is a bun write query (insert, update, delete) ready to run.
type execer interface {
	Exec(ctx context.Context, dest ...any) (sql.Result, error)
}

// execRetry runs one write statement, again after a deadlock or (on Galera) a certification
// conflict, as retryConflict does.
func execRetry(ctx context.Context, db bun.IDB, q execer) (sql.Result, error) {
	var res sql.Result
	err := retryConflict(ctx, db, func() (err error) {
		res, err = q.Exec(ctx)
		return err
	})
	return res, err
}

// execCount runs one write statement as execRetry does and says how many rows it changed; a
// failure is translated as op.
func execCount(ctx context.Context, db bun.IDB, op string, q execer) (int, error) {
	res, err := execRetry(ctx, db, q)
	if err != nil {
		return 0, translate(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, translate(op, err)
	}
	return int(n), nil
}

// runTx runs fn in a transaction of db (an immediate one on SQLite, see sqlitePragmas),
// running it again when the engine chose it as a deadlock or serialization victim.
func runTx(ctx context.Context, db *bun.DB, fn func(context.Context, bun.Tx) error) error {
	return retryConflict(ctx, db, func() error { return db.RunInTx(ctx, nil, fn) })
}
