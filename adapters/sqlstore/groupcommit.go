package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// swapRounds commits the rotations of concurrent refreshes on SQLite together: the swaps that
// arrive while one round runs wait for the next, which runs them all in one transaction. SQLite
// has one writer at a time, so they would wait for each other anyway; what a shared commit saves
// is each swap's own transaction: taking the write lock, appending the changed pages to the WAL
// and, every thousand pages, the checkpoint. Profiles of POST /api/auth/refresh on SQLite at 32
// connections spent about a seventh of the process's CPU there with one transaction per swap.
//
// Every swap keeps its own statement and so its own outcome: the compare-and-swap on the
// presented hash (Sessions.swap) sees the swaps before it in the round, so two callers of one
// token still rotate it once. A caller hears its outcome only after the commit that holds it.
// Safe for concurrent use.
type swapRounds struct {
	db   *sql.DB
	stmt *sql.Stmt

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
	args []any
	done chan struct{}
	n    int64 // rows changed: 1 when the swap happened
	err  error
}

// swapTimeout bounds one round (its callers wait for it even if their own contexts end, since a
// round may already have committed their swap).
const swapTimeout = 10 * time.Second

func newSwapRounds(db *sql.DB, stmt *sql.Stmt) *swapRounds {
	return &swapRounds{db: db, stmt: stmt}
}

// exec runs the swap statement with args in the next round and returns the rows it changed.
func (r *swapRounds) exec(ctx context.Context, args ...any) (int64, error) {
	c := &swapCall{ctx: ctx, args: args, done: make(chan struct{})}
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
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		for _, c := range live {
			c.err = err
		}
		return
	}
	stmt := tx.StmtContext(ctx, r.stmt)
	for _, c := range live {
		if c.n, c.err = stmtRows(ctx, stmt, c.args); c.err != nil {
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
		c.n, c.err = stmtRows(ctx, r.stmt, c.args)
	}
}

// stmtRows runs stmt with args and returns the rows it changed.
func stmtRows(ctx context.Context, stmt *sql.Stmt, args []any) (int64, error) {
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
