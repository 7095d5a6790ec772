package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/internal/barrier"
)

// invalidateChannel is where Redis sends client-tracking invalidations to a RESP2 connection.
const invalidateChannel = "__redis__:invalidate"

// Changes reports every change to the session keys of a standalone Redis, by whoever makes it
// (any instance, the operator CLI, a bare redis-cli DEL, expiry, eviction, FLUSHALL), through
// Redis's client-side-caching support, and proves on demand that every change acknowledged
// before a moment has been reported (Sync). One dedicated connection, which this type speaks
// RESP2 on itself (no pool, no silent reconnect), runs
//
//	CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>sess:
//	SUBSCRIBE __redis__:invalidate
//
// Redis queues the invalidation of a modified key on that connection before the writer's reply
// leaves the server (BCAST invalidations are queued at the end of the event-loop turn, before
// pending replies are written), and it answers the commands of one connection in order.
//
// Sync is the read barrier: it writes a PING on the tracking connection after Sync was called
// (or joins one not yet written) and returns when that PING's PONG has been read, every message
// before it having been applied. A revoke acknowledged before Sync began had its invalidation
// queued on the connection before the PING, so it has been reported when Sync returns. A PING
// is shared by every caller waiting when it is written. A connection that fails, an unexpected
// message or a PONG later than pingTimeout ends the connection: Watch reports not live (the
// cache empties and stops answering), Sync fails until a new connection is subscribed, and a
// PONG of a new connection never answers a PING of the old one.
//
// Only a standalone Redis (redis://, rediss://) is supported. In a Cluster each master would need
// its own tracking connection and a barrier over all of them, and under Sentinel a failover
// moves the writes to another server than the one tracking; both keep no session cache.
type Changes struct {
	opts   *redis.Options
	prefix string // of session keys: <prefix>sess:
	log    *slog.Logger

	pingTimeout time.Duration
	rounds      *barrier.Rounds

	mu     sync.Mutex
	conn   *trackingConn // nil while not subscribed
	closed bool
}

// pingTimeout is how long a barrier PING may take before the connection counts as failed.
const pingTimeout = 500 * time.Millisecond

// errNotLive is Sync's answer while no tracking connection is subscribed.
var errNotLive = errors.New("redisstore: the session invalidation connection is not live")

// NewChanges returns the change feed for the sessions of client under prefix, or false when
// client is not a standalone Redis (a Cluster or a Sentinel-managed master).
func NewChanges(client redis.UniversalClient, prefix string, log *slog.Logger) (*Changes, bool) {
	c, ok := client.(*redis.Client)
	if !ok || c.Options().Addr == "FailoverClient" {
		return nil, false
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Changes{opts: c.Options(), prefix: k.prefix + sessionKeyPart, log: log, pingTimeout: pingTimeout,
		rounds: barrier.New(errNotLive)}, true
}

// Watch follows the changes until ctx ends (see sessioncache.Feed).
func (ch *Changes) Watch(ctx context.Context, changed func(id string), reset func(), live func(bool)) {
	go ch.pinger(ctx)
	barrier.Reconnect(ctx, ch.log, "session cache off: lost the Redis invalidation connection; reconnecting",
		func(ctx context.Context) error { return ch.watchOnce(ctx, changed, reset, live) })
}

// watchOnce dials, subscribes and applies messages until the connection fails.
func (ch *Changes) watchOnce(ctx context.Context, changed func(string), reset func(), live func(bool)) error {
	tc, r, err := ch.dial(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, tc.close)
	defer stop()
	defer ch.forget(tc, live)
	live(true) // the cache is empty from here on: nothing before the subscription was known
	ch.mu.Lock()
	ch.conn = tc
	ch.mu.Unlock()
	ch.rounds.SetUp(true)
	for {
		msg, err := readReply(r)
		if err != nil {
			return err
		}
		if err := ch.apply(tc, msg, changed, reset); err != nil {
			return err
		}
	}
}

// forget ends a failed connection: off first, then forget the connection and fail its waiting
// PINGs, since no Sync may succeed on a connection whose messages may have been lost.
func (ch *Changes) forget(tc *trackingConn, live func(bool)) {
	live(false)
	ch.rounds.SetUp(false)
	tc.close()
	ch.mu.Lock()
	if ch.conn == tc {
		ch.conn = nil
	}
	inflight := tc.inflight
	tc.inflight = nil
	ch.mu.Unlock()
	for _, r := range inflight {
		r.Finish(errNotLive)
	}
}

// apply applies one message of the tracking connection: a PONG completes the oldest waiting
// Sync round, an invalidation reports its sessions changed (or, for a flush or a key not a
// session's, everything). Anything else is an error that ends the connection.
func (ch *Changes) apply(tc *trackingConn, msg any, changed func(string), reset func()) error {
	arr, ok := msg.([]any)
	if !ok || len(arr) < 2 {
		return fmt.Errorf("unexpected reply %v on the tracking connection", msg)
	}
	kind, _ := arr[0].(string)
	switch {
	case strings.EqualFold(kind, "pong"):
		ch.mu.Lock()
		if len(tc.inflight) == 0 {
			ch.mu.Unlock()
			return errors.New("a PONG for no PING on the tracking connection")
		}
		r := tc.inflight[0]
		tc.inflight = tc.inflight[1:]
		ch.mu.Unlock()
		r.Finish(nil)
	case kind == "message" && len(arr) == 3 && arr[1] == invalidateChannel:
		switch keys := arr[2].(type) {
		case nil: // FLUSHALL, FLUSHDB
			reset()
		case []any:
			for _, k := range keys {
				key, _ := k.(string)
				if id, ok := ch.sessionID(key); ok {
					changed(id)
				} else {
					reset()
				}
			}
		default:
			reset()
		}
	default:
		return fmt.Errorf("unexpected message %v on the tracking connection", msg)
	}
	return nil
}

// Sync returns once every change to a session acknowledged to its writer before Sync was
// called has been reported to Watch's callbacks, or an error: then nothing may be answered
// from memory (see Changes).
func (ch *Changes) Sync(ctx context.Context) error { return ch.rounds.Wait(ctx) }

// pinger writes the PING of each round callers have joined, in order, on the current
// connection, one at a time, and ends a connection whose PONG is late.
func (ch *Changes) pinger(ctx context.Context) {
	late := time.NewTimer(ch.pingTimeout)
	late.Stop()
	for {
		select {
		case <-ctx.Done():
			if r := ch.rounds.Take(); r != nil {
				r.Finish(errNotLive)
			}
			return
		case <-ch.rounds.Kicked():
		}
		// Yield first, so that the requests already runnable join this PING rather than each
		// writing one of their own (as sqlstore.DataVersion's rounds do).
		runtime.Gosched()
		r := ch.rounds.Take()
		if r == nil {
			continue
		}
		ch.mu.Lock()
		tc := ch.conn
		if tc == nil {
			ch.mu.Unlock()
			r.Finish(errNotLive)
			continue
		}
		tc.inflight = append(tc.inflight, r)
		ch.mu.Unlock()
		_ = tc.c.SetWriteDeadline(time.Now().Add(ch.pingTimeout))
		err := writeCommand(tc.w, "PING")
		if err == nil {
			err = tc.w.Flush()
		}
		if err != nil {
			tc.close() // the reader fails every waiting round
			continue
		}
		// One PING out at a time: callers that arrive while it is out join the next, written
		// once its PONG is back, as sqlstore.DataVersion runs its queries one after another.
		// Under load each PING then answers every request that arrived during the last round
		// trip rather than a handful: under /api/users/me load at 32 connections, one PING per
		// 8.7 requests instead of 5.3, and Redis's CPU per request 15% lower, which every
		// instance shares (see docs/performance.md). A connection that fails answers its
		// rounds (forget), so the wait always ends.
		late.Reset(ch.pingTimeout)
		select {
		case <-r.Done():
		case <-late.C:
			tc.close() // late: the reader fails every waiting round and the cache goes off
		case <-ctx.Done():
		}
		late.Stop()
	}
}

// sessionID is the session id of a session key, or false.
func (ch *Changes) sessionID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, ch.prefix+"{")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "}")
	return id, ok && id != ""
}
