package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portcullis-auth/portcullis/adapters/internal/barrier"
)

// The channels on which PostgreSQL announces every change to a user or a session row:
// migration 20261201000100_change_notify's triggers NOTIFY them with the id of each row updated
// or deleted, and with an empty payload when the table is truncated.
const (
	UserChanges    = "portcullis_users"
	SessionChanges = "portcullis_sessions"
)

// Changes reports every change to the rows behind one NOTIFY channel of a PostgreSQL database,
// by whoever makes it (any instance, the operator CLI, a bare psql UPDATE or DELETE: the table's
// triggers send the notifications, not this code), and proves on demand that every change
// acknowledged before a moment has been reported (Sync). It is the change feed of
// adapters/usercache and adapters/sessioncache on PostgreSQL, as redisstore.Changes is of the
// session cache on a standalone Redis.
//
// One connection, outside the pool, LISTENs on the channel. PostgreSQL puts a transaction's
// notifications in its queue and signals the listening backends while the transaction commits,
// before the writer is told that it committed; a listening backend that has been signalled sends
// the notifications to its client before it reads the client's next command.
//
// Sync is the read barrier: it sends a query (barrierSQL) on the listening connection after Sync
// was called, or joins one not yet sent, and returns once that query's answer has been read,
// every notification before it having been applied. A change acknowledged before Sync began was
// signalled before the query was sent, so it has been reported when Sync returns. A query is
// shared by every caller waiting when it is sent, and one is out at a time (as
// redisstore.Changes does with its PING). A connection that fails, or a query that takes longer
// than queryTimeout, ends the connection: Watch reports not live (the cache empties and stops
// answering), Sync fails until a new connection is listening, and a query of the old connection
// never answers for the new one. While nothing calls Sync, the connection is still read once a
// second, so that notifications do not pile up and a dead connection is seen.
//
// The listening connection must be a session of its own on one server process, as a direct
// connection or a pooler in session mode gives. A pooler in transaction mode (PgBouncer's
// pool_mode=transaction) hands each transaction to whichever server connection is free, so the
// notifications of the LISTEN would reach other clients. The barrier therefore asks for the
// server process id (pg_backend_pid()), and one that differs from the LISTEN's ends the feed for
// good: the cache stays off, and an error in the log says why.
//
// What a NOTIFY costs the writers is in docs/performance.md ("PostgreSQL"): PostgreSQL takes one
// lock, held until the commit is flushed, for every transaction that notifies.
type Changes struct {
	cfg     *pgx.ConnConfig
	channel string
	log     *slog.Logger
	rounds  *barrier.Rounds

	queryTimeout time.Duration
	// pidSQL names the server process of the LISTEN (barrierSQL; a test makes it name another,
	// as a pooler in transaction mode would).
	pidSQL string

	mu   sync.Mutex
	conn *pgconn.PgConn // nil while not listening
}

// changesQueryTimeout is how long a barrier query may take before the connection counts as
// failed; changesIdleRead is how often an idle connection is read.
const (
	changesQueryTimeout = 500 * time.Millisecond
	changesIdleRead     = time.Second
)

// errChangesNotLive is Sync's answer while no connection is listening.
var errChangesNotLive = errors.New("sqlstore: the change notification connection is not live")

// errChangesMoved: the listening connection's queries reach another server process than its
// LISTEN did (a pooler in transaction mode); the feed stops for good.
var errChangesMoved = errors.New("sqlstore: the change notification connection is not one server session " +
	"(a pooler in transaction mode?): the cache stays off; connect Portcullis directly or through a pooler in session mode")

// barrierSQL is the barrier query: it also names the server process that answers it.
const barrierSQL = "SELECT pg_backend_pid()"

// NewChanges returns the change feed of channel on db, or false when db is not PostgreSQL.
func NewChanges(db *DB, channel string, log *slog.Logger) (*Changes, bool) {
	if db.kind != Postgres || db.dsn == "" {
		return nil, false
	}
	cfg, err := pgx.ParseConfig(db.dsn)
	if err != nil { // the pool parsed the same DSN already
		return nil, false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Changes{cfg: cfg, channel: channel, log: log, rounds: barrier.New(errChangesNotLive),
		queryTimeout: changesQueryTimeout, pidSQL: barrierSQL}, true
}

// Watch follows the changes until ctx ends (see sessioncache.Feed).
func (ch *Changes) Watch(ctx context.Context, changed func(id string), reset func(), live func(bool)) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	log := ch.log.With("channel", ch.channel)
	barrier.Reconnect(ctx, log, "cache off: lost the PostgreSQL notification connection; reconnecting",
		func(ctx context.Context) error {
			err := ch.watchOnce(ctx, changed, reset, live)
			if errors.Is(err, errChangesMoved) {
				log.ErrorContext(ctx, "cache off for good", "err", err)
				stop()
			}
			return err
		})
}

// watchOnce connects, listens, and runs the barrier queries until the connection fails.
func (ch *Changes) watchOnce(ctx context.Context, changed func(string), reset func(), live func(bool)) error {
	cfg := ch.cfg.Config.Copy()
	cfg.OnNotification = func(_ *pgconn.PgConn, n *pgconn.Notification) {
		switch {
		case n.Channel != ch.channel || n.Payload == "":
			reset() // a truncate, or a channel this feed did not ask for
		default:
			changed(n.Payload)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgconn.ConnectConfig(dctx, cfg)
	var pid string
	if err == nil {
		// One simple query, so one transaction: a pooler in transaction mode cannot split it.
		var res []*pgconn.Result
		res, err = conn.Exec(dctx, "LISTEN "+pgx.Identifier{ch.channel}.Sanitize()+"; "+ch.pidSQL).ReadAll()
		if err == nil {
			pid, err = onlyValue(res[len(res)-1])
		}
		if err != nil {
			_ = conn.Close(context.Background())
		}
	}
	cancel()
	if err != nil {
		return err
	}
	defer ch.forget(conn, live)
	ch.mu.Lock()
	ch.conn = conn
	ch.mu.Unlock()
	ch.rounds.SetUp(true)
	live(true) // the cache is empty from here on: nothing before the LISTEN was known

	idle := time.NewTimer(changesIdleRead)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch.rounds.Kicked():
		case <-idle.C:
		}
		// Yield first, so that the requests already runnable join this query rather than each
		// sending one of their own (as redisstore.Changes does with its PING).
		runtime.Gosched()
		r := ch.rounds.Take()
		qctx, cancel := context.WithTimeout(ctx, ch.queryTimeout)
		res, err := conn.Exec(qctx, barrierSQL).ReadAll()
		cancel()
		var got string
		if err == nil {
			got, err = onlyValue(res[0])
		}
		if err == nil && got != pid {
			err = fmt.Errorf("%w (LISTEN on server process %s, barrier answered by %s)", errChangesMoved, pid, got)
		}
		if err != nil {
			if r != nil {
				r.Finish(errChangesNotLive)
			}
			return fmt.Errorf("barrier query: %w", err)
		}
		if r != nil {
			r.Finish(nil)
		}
		idle.Reset(changesIdleRead)
	}
}

// onlyValue is the one value of a one-row, one-column result.
func onlyValue(r *pgconn.Result) (string, error) {
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		return "", fmt.Errorf("want one value, got %d rows", len(r.Rows))
	}
	return string(r.Rows[0][0]), nil
}

// forget ends a failed connection: off first, then fail the round waiting for a query, since
// no Sync may succeed on a connection whose notifications may have been lost.
func (ch *Changes) forget(conn *pgconn.PgConn, live func(bool)) {
	live(false)
	ch.rounds.SetUp(false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = conn.Close(ctx)
	cancel()
	ch.mu.Lock()
	ch.conn = nil
	ch.mu.Unlock()
}

// Sync returns once every change acknowledged to its writer before Sync was called has been
// reported to Watch's callbacks, or an error: then nothing may be answered from memory (see
// Changes).
func (ch *Changes) Sync(ctx context.Context) error { return ch.rounds.Wait(ctx) }

// PID is the server process id of the listening connection, or 0 while there is none (for tests
// that end it with pg_terminate_backend).
func (ch *Changes) PID() uint32 {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.conn == nil {
		return 0
	}
	return ch.conn.PID()
}
