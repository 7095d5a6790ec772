// Package barrier is what the change feeds of the Redis and PostgreSQL stores
// (redisstore.Changes, sqlstore.Changes) share: the read barrier's rounds, which every caller
// waiting when a round is sent joins, and the loop that reconnects a feed whose connection
// failed. How a round is sent and answered (a PING, a SELECT pg_backend_pid()) stays with each
// feed.
package barrier

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Round is one barrier query; every caller that joined it gets its outcome.
type Round struct {
	done    chan struct{}
	err     error
	waiters int // callers that joined it (under Rounds.mu; for tests)
}

// Finish gives the round's callers err (nil: the barrier passed). Call it once.
func (r *Round) Finish(err error) {
	r.err = err
	close(r.done)
}

// Done is closed once the round is finished.
func (r *Round) Done() <-chan struct{} { return r.done }

// Rounds hands the callers of a feed's Sync to its sender. Create it with New; it is safe for
// concurrent use.
type Rounds struct {
	notLive error // what a caller gets while no connection can send rounds

	mu   sync.Mutex
	up   bool
	next *Round // the round callers join; not taken by the sender yet
	kick chan struct{}
}

// New returns the rounds of a feed that answers notLive while it has no connection.
func New(notLive error) *Rounds {
	return &Rounds{notLive: notLive, kick: make(chan struct{}, 1)}
}

// Wait joins the round not yet taken by the sender, or opens one, and returns its outcome; while
// the feed is down it returns the feed's not-live error at once.
func (b *Rounds) Wait(ctx context.Context) error {
	b.mu.Lock()
	if !b.up {
		b.mu.Unlock()
		return b.notLive
	}
	r := b.next
	if r == nil {
		r = &Round{done: make(chan struct{})}
		b.next = r
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	r.waiters++
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kicked receives when a round has been opened since the sender last took one.
func (b *Rounds) Kicked() <-chan struct{} { return b.kick }

// Take hands the open round to the sender, or nil when there is none; callers who arrive from
// now on join the next one.
func (b *Rounds) Take() *Round {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.next
	b.next = nil
	return r
}

// SetUp says whether a connection can send rounds. Going down fails the round not taken yet,
// with the not-live error.
func (b *Rounds) SetUp(up bool) {
	b.mu.Lock()
	b.up = up
	r := b.next
	if !up {
		b.next = nil
	}
	b.mu.Unlock()
	if !up && r != nil {
		r.Finish(b.notLive)
	}
}

// Reconnect runs once until ctx ends: each time once returns (its connection failed) it logs
// msg with the error and calls it again after a pause that doubles from 50 ms up to 2 s.
func Reconnect(ctx context.Context, log *slog.Logger, msg string, once func(context.Context) error) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := once(ctx)
		if ctx.Err() != nil {
			return
		}
		log.WarnContext(ctx, msg, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
