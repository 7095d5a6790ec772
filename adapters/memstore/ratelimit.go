package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// LimiterModule provides RateLimiter as the ports.RateLimiter, on the ports.Clock of the graph.
// cmd/portcullis includes it beside Module when PORTCULLIS_SESSION_STORE=memory.
var LimiterModule = fx.Module("memstore-limiter",
	fx.Provide(fx.Annotate(NewRateLimiter, fx.As(new(ports.RateLimiter)))),
)

// limiterShards spreads keys over independently locked maps, so that concurrent requests on
// different keys rarely wait for each other.
const limiterShards = 32

// RateLimiter is an in-process ports.RateLimiter: GCRA (the generic cell rate algorithm, a
// token bucket kept as one time per key), the same algorithm and arithmetic as the Redis
// limiter. A key's state is its theoretical arrival time (TAT): hits are allowed while the TAT
// they would produce lies no more than Period ahead of now, and each hit moves it Period/Burst
// further. A key whose TAT has passed is back to a full bucket and is forgotten, so memory
// holds only keys hit within their last Period (swept as calls go by). Safe for concurrent use.
type RateLimiter struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

type limiterShard struct {
	mu    sync.Mutex
	tat   map[string]int64 // theoretical arrival time, Unix nanoseconds
	calls int
}

var _ ports.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns an empty limiter that reads the time from clock (the wall clock when
// nil).
func NewRateLimiter(clock ports.Clock) *RateLimiter {
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	l := &RateLimiter{now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].tat = make(map[string]int64)
	}
	return l
}

// Allow records n hits on key under limit if all n fit, and reports the outcome. Hits that do
// not fit are not recorded. When refused, RetryAfter is how long until n hits fit (for n = 1:
// until one more hit is allowed); n larger than limit.Burst never fits. When allowed,
// RetryAfter is how long until one more hit would fit (zero while Remaining > 0), so n = 0
// reports the state of key (Remaining, and the wait when it is 0) without recording anything. An invalid limit (Burst < 1, Period shorter than Burst nanoseconds) or a negative
// n is an error.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit ports.RateLimit, n int) (ports.RateResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.RateResult{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	interval, err := emissionInterval(limit, n)
	if err != nil {
		return ports.RateResult{}, fmt.Errorf("rate limit %s: %w", key, err)
	}
	burstOffset := interval * int64(limit.Burst)
	now := l.now().UnixNano()
	sh := l.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.calls++; sh.calls%sweepEvery == 0 {
		sh.sweep(now)
	}
	tat := max(sh.tat[key], now)
	newTAT := tat + interval*int64(n)
	allowAt := newTAT - burstOffset
	if allowAt > now {
		return ports.RateResult{RetryAfter: time.Duration(allowAt - now)}, nil
	}
	if newTAT > now {
		sh.tat[key] = newTAT
	}
	return ports.RateResult{Allowed: true, Remaining: int((now - allowAt) / interval),
		RetryAfter: time.Duration(max(allowAt+interval-now, 0))}, nil
}

// Reset forgets key: its next hit finds a full bucket.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reset rate limit %s: %w", key, err)
	}
	sh := l.shard(key)
	sh.mu.Lock()
	delete(sh.tat, key)
	sh.mu.Unlock()
	return nil
}

func (l *RateLimiter) shard(key string) *limiterShard {
	return &l.shards[maphash.String(l.seed, key)%limiterShards]
}

// sweep forgets every key whose bucket is full again at now; the caller holds mu.
func (sh *limiterShard) sweep(now int64) {
	for k, tat := range sh.tat {
		if tat <= now {
			delete(sh.tat, k)
		}
	}
}

// emissionInterval is the GCRA spacing of hits under limit, Period/Burst in whole nanoseconds
// (rounded down, so Burst hits at once always fit), after checking limit and n.
func emissionInterval(limit ports.RateLimit, n int) (int64, error) {
	if limit.Burst < 1 {
		return 0, fmt.Errorf("invalid rate limit: burst %d, want at least 1", limit.Burst)
	}
	interval := int64(limit.Period) / int64(limit.Burst)
	if interval < 1 {
		return 0, fmt.Errorf("invalid rate limit: period %s is too short for burst %d", limit.Period, limit.Burst)
	}
	if n < 0 {
		return 0, errors.New("negative number of hits")
	}
	return interval, nil
}
