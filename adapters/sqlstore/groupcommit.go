package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// swapRounds commits the rotations of concurrent refreshes together, on SQLite and PostgreSQL:
// the swaps that arrive while one round runs wait for the next, which runs them all in one
// transaction. What a shared commit saves is each swap's own transaction. On SQLite, which has
// one writer at a time, that is taking the write lock, appending the changed pages to the WAL
// and, every thousand pages, the checkpoint: profiles of POST /api/auth/refresh on SQLite at 32
// connections spent about a seventh of the process's CPU there with one transaction per swap. On
// PostgreSQL it is a commit each, and each commit that notifies (the sessions table's triggers
// NOTIFY every rotation, for the caches of other instances: pgchanges.go) takes a lock that
// PostgreSQL holds until the commit is flushed, so rotations committed one by one would wait for
// one flush each (docs/performance.md, "PostgreSQL").
//
// Every swap keeps its own statement and so its own outcome: the compare-and-swap on the
// presented hash (Sessions.swap) sees the swaps before it in the round, so two callers of one
// token still rotate it once. A caller hears its outcome only after the commit that holds it. On
// PostgreSQL a round takes its rows' locks in the order of their session ids, so that rounds of
// different instances cannot deadlock on each other. Safe for concurrent use.
type swapRounds struct {
	db   *sql.DB
	stmt *sql.Stmt // SQLite's prepared swap; nil on PostgreSQL, whose calls carry their SQL

	mu      sync.Mutex
	next    []*swapCall // the calls of the round not started yet
	running bool        // a goroutine runs the rounds

	// beforeRound, when set by tests, runs before a round takes its calls.
	beforeRound func()
	// rounds and calls count the rounds run and the calls they ran (tests).
	rounds, calls atomic.Uint64
}

type swapCall struct {
	ctx  context.Context
	args []any // with stmt
	// Without stmt: the session id, which orders a round's statements, and the statement.
	key, query string
	done       chan struct{}
	n          int64 // rows changed: 1 when the swap happened
	err        error
}

// swapTimeout bounds one round (its callers wait for it even if their own contexts end, since a
// round may already have committed their swap).
const swapTimeout = 10 * time.Second

func newSwapRounds(db *sql.DB, stmt *sql.Stmt) *swapRounds {
	return &swapRounds{db: db, stmt: stmt}
}

// exec runs the swap statement with args in the next round and returns the rows it changed.
func (r *swapRounds) exec(ctx context.Context, args ...any) (int64, error) {
	return r.enqueue(&swapCall{ctx: ctx, args: args, done: make(chan struct{})})
}

// execQuery runs query, the swap of session key, in the next round and returns the rows it
// changed (rounds without a prepared statement).
func (r *swapRounds) execQuery(ctx context.Context, key, query string) (int64, error) {
	return r.enqueue(&swapCall{ctx: ctx, key: key, query: query, done: make(chan struct{})})
}

func (r *swapRounds) enqueue(c *swapCall) (int64, error) {
	r.mu.Lock()
	r.next = append(r.next, c)
	if !r.running {
		r.running = true
		go r.run()
	}
	r.mu.Unlock()
	<-c.done
	return c.n, c.err
}

// run runs rounds until no call is waiting. Each round first yields the processor, so that the
// refreshes already runnable reach exec and join it (as DataVersion's rounds do).
func (r *swapRounds) run() {
	for {
		runtime.Gosched()
		if r.beforeRound != nil {
			r.beforeRound()
		}
		r.mu.Lock()
		calls := r.next
		r.next = nil
		if len(calls) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.round(calls)
		r.rounds.Add(1)
		r.calls.Add(uint64(len(calls)))
		for _, c := range calls {
			close(c.done)
		}
	}
}

// round runs calls: a caller that has given up is left out, one call runs on its own, several in
// one transaction. When a statement of the transaction fails, the transaction is rolled back and
// each call runs on its own, so that every caller gets its own outcome.
func (r *swapRounds) round(calls []*swapCall) {
	live := calls[:0:0]
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			continue
		}
		live = append(live, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), swapTimeout)
	defer cancel()
	switch len(live) {
	case 0:
		return
	case 1:
		r.oneByOne(ctx, live)
		return
	}
	if r.stmt == nil {
		slices.SortStableFunc(live, func(a, b *swapCall) int { return strings.Compare(a.key, b.key) })
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		for _, c := range live {
			c.err = err
		}
		return
	}
	run := func(c *swapCall) (int64, error) { return execRows(ctx, tx, c.query) }
	if r.stmt != nil {
		stmt := tx.StmtContext(ctx, r.stmt)
		run = func(c *swapCall) (int64, error) { return stmtRows(ctx, stmt, c.args) }
	}
	for _, c := range live {
		if c.n, c.err = run(c); c.err != nil {
			_ = tx.Rollback()
			r.oneByOne(ctx, live)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, c := range live {
			c.n, c.err = 0, fmt.Errorf("commit a group of rotations: %w", err)
		}
	}
}

// oneByOne runs each of calls in a transaction of its own, each with its own outcome.
func (r *swapRounds) oneByOne(ctx context.Context, calls []*swapCall) {
	for _, c := range calls {
		if r.stmt != nil {
			c.n, c.err = stmtRows(ctx, r.stmt, c.args)
		} else {
			c.n, c.err = execRows(ctx, r.db, c.query)
		}
	}
}

// execRows runs query on db (a pool or a transaction) and returns the rows it changed.
func execRows(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string) (int64, error) {
	res, err := db.ExecContext(ctx, query)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// stmtRows runs stmt with args and returns the rows it changed.
func stmtRows(ctx context.Context, stmt *sql.Stmt, args []any) (int64, error) {
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
