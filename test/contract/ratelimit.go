package contract

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// RateLimiter runs the ports.RateLimiter contract. open must return a limiter for each subtest
// (the suite uses fresh random keys, so a shared backend is fine) and arrange its own cleanup
// with t.Cleanup. Limits are long (an hour) wherever refill must not interfere; the one refill
// case uses a short period and sleeps: it checks behaviour, not speed.
func RateLimiter(t *testing.T, open func(t *testing.T) ports.RateLimiter) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, l ports.RateLimiter)
	}{
		{"BurstThenRefused", limiterBurst},
		{"Refill", limiterRefill},
		{"KeysIndependent", limiterKeysIndependent},
		{"SeveralHits", limiterSeveralHits},
		{"Reset", limiterReset},
		{"Concurrent", limiterConcurrent},
		{"ContextCancelled", limiterContextCancelled},
		{"PeekReportsWait", limiterPeek},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// hourly is a limit that does not noticeably refill while a test runs.
func hourly(burst int) ports.RateLimit { return ports.RateLimit{Burst: burst, Period: time.Hour} }

// limiterKey is a fresh key shaped like the application's.
func limiterKey() string { return "login:ip:203.0.113.9:" + uuid.NewString() }

func allow(t *testing.T, l ports.RateLimiter, key string, limit ports.RateLimit, n int) ports.RateResult {
	t.Helper()
	r, err := l.Allow(t.Context(), key, limit, n)
	if err != nil {
		t.Fatalf("Allow(%s, %+v, %d): %v", key, limit, n, err)
	}
	return r
}

// mustAllow checks that n hits are allowed, leaving remaining.
func mustAllow(t *testing.T, l ports.RateLimiter, key string, limit ports.RateLimit, n, remaining int) {
	t.Helper()
	if r := allow(t, l, key, limit, n); !r.Allowed || r.Remaining != remaining {
		t.Fatalf("Allow(%d) = %+v, want allowed with %d remaining", n, r, remaining)
	}
}

// mustRefuse checks that n hits are refused with a RetryAfter in (0, max].
func mustRefuse(t *testing.T, l ports.RateLimiter, key string, limit ports.RateLimit, n int, max time.Duration) ports.RateResult {
	t.Helper()
	r := allow(t, l, key, limit, n)
	if r.Allowed || r.Remaining != 0 || r.RetryAfter <= 0 || r.RetryAfter > max {
		t.Fatalf("Allow(%d) = %+v, want refused with 0 remaining and RetryAfter in (0, %s]", n, r, max)
	}
	return r
}

func limiterBurst(t *testing.T, l ports.RateLimiter) {
	limit := hourly(5)
	key := limiterKey()
	for i := range limit.Burst {
		mustAllow(t, l, key, limit, 1, limit.Burst-1-i)
	}
	// One more hit is allowed after one emission interval (Period/Burst), at most.
	mustRefuse(t, l, key, limit, 1, limit.Period/time.Duration(limit.Burst))
	mustRefuse(t, l, key, limit, 1, limit.Period/time.Duration(limit.Burst))
}

func limiterRefill(t *testing.T, l ports.RateLimiter) {
	limit := ports.RateLimit{Burst: 3, Period: 300 * time.Millisecond}
	key := limiterKey()
	for range limit.Burst {
		if r := allow(t, l, key, limit, 1); !r.Allowed {
			t.Fatalf("hit within the burst refused: %+v", r)
		}
	}
	r := mustRefuse(t, l, key, limit, 1, limit.Period)
	time.Sleep(r.RetryAfter + 20*time.Millisecond)
	if r := allow(t, l, key, limit, 1); !r.Allowed {
		t.Fatalf("after waiting RetryAfter: %+v, want allowed", r)
	}
	// After a whole period of rest the bucket is full again.
	time.Sleep(limit.Period + 20*time.Millisecond)
	for i := range limit.Burst {
		if r := allow(t, l, key, limit, 1); !r.Allowed {
			t.Fatalf("after a full period, hit %d refused: %+v", i, r)
		}
	}
}

func limiterKeysIndependent(t *testing.T, l ports.RateLimiter) {
	limit := hourly(2)
	a, b := limiterKey(), limiterKey()
	mustAllow(t, l, a, limit, 2, 0)
	mustRefuse(t, l, a, limit, 1, limit.Period)
	mustAllow(t, l, b, limit, 1, 1)
	// Keys with separators and braces are opaque strings too.
	odd := "mail:{" + uuid.NewString() + "}:x@example.com"
	mustAllow(t, l, odd, limit, 2, 0)
	mustRefuse(t, l, odd, limit, 1, limit.Period)
	mustAllow(t, l, "mail:{"+uuid.NewString()+"}:x@example.com", limit, 1, 1)
}

func limiterSeveralHits(t *testing.T, l ports.RateLimiter) {
	limit := hourly(10)
	key := limiterKey()
	mustAllow(t, l, key, limit, 4, 6)
	mustAllow(t, l, key, limit, 4, 2)
	// Hits that do not all fit are refused together and not recorded.
	mustRefuse(t, l, key, limit, 4, limit.Period)
	mustAllow(t, l, key, limit, 2, 0)
	mustRefuse(t, l, key, limit, 1, limit.Period)
	// More hits than the burst never fit, even on a fresh key.
	if r := allow(t, l, limiterKey(), limit, limit.Burst+1); r.Allowed || r.RetryAfter <= 0 {
		t.Fatalf("Allow(burst+1) on a fresh key = %+v, want refused with RetryAfter > 0", r)
	}
}

func limiterReset(t *testing.T, l ports.RateLimiter) {
	limit := hourly(3)
	key := limiterKey()
	mustAllow(t, l, key, limit, 3, 0)
	mustRefuse(t, l, key, limit, 1, limit.Period)
	if err := l.Reset(t.Context(), key); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	mustAllow(t, l, key, limit, 1, 2)
	if err := l.Reset(t.Context(), limiterKey()); err != nil {
		t.Fatalf("Reset of an unknown key: %v", err)
	}
}

// limiterConcurrent: many callers at once on one key get exactly Burst hits, across goroutines
// (and, for Redis, connections).
func limiterConcurrent(t *testing.T, l ports.RateLimiter) {
	const callers = 50
	limit := hourly(10)
	key := limiterKey()
	var allowed atomic.Int32
	errs := make([]error, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range errs {
		done.Go(func() {
			start.Wait()
			r, err := l.Allow(t.Context(), key, limit, 1)
			errs[i] = err
			if err == nil && r.Allowed {
				allowed.Add(1)
			}
		})
	}
	start.Done()
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := allowed.Load(); got != int32(limit.Burst) {
		t.Fatalf("%d of %d concurrent hits allowed, want exactly %d", got, callers, limit.Burst)
	}
}

func limiterContextCancelled(t *testing.T, l ports.RateLimiter) {
	limit := hourly(1)
	key := limiterKey()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if r, err := l.Allow(ctx, key, limit, 1); err == nil {
		t.Errorf("Allow with a cancelled context = %+v, want an error", r)
	} else if errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Allow with a cancelled context = %v, want an error that is not ErrNotFound", err)
	}
	mustAllow(t, l, key, limit, 1, 0) // the cancelled call recorded nothing
	if err := l.Reset(ctx, key); err == nil {
		t.Error("Reset with a cancelled context: no error")
	}
	mustRefuse(t, l, key, limit, 1, limit.Period) // and the cancelled Reset forgot nothing
}

// limiterPeek: n = 0 records nothing and reports the state, with the wait for one more hit once
// the bucket is empty; an allowed hit reports that wait too.
func limiterPeek(t *testing.T, l ports.RateLimiter) {
	limit := hourly(2)
	key := limiterKey()
	if r := allow(t, l, key, limit, 0); !r.Allowed || r.Remaining != 2 || r.RetryAfter != 0 {
		t.Fatalf("peek at a fresh key = %+v, want allowed, 2 remaining, no wait", r)
	}
	if r := allow(t, l, key, limit, 1); !r.Allowed || r.Remaining != 1 || r.RetryAfter != 0 {
		t.Fatalf("first hit = %+v, want allowed, 1 remaining, no wait", r)
	}
	r := allow(t, l, key, limit, 1)
	interval := limit.Period / time.Duration(limit.Burst)
	if !r.Allowed || r.Remaining != 0 || r.RetryAfter <= interval-time.Minute || r.RetryAfter > interval {
		t.Fatalf("last hit = %+v, want allowed, 0 remaining, a wait of about %v", r, interval)
	}
	for range 3 {
		p := allow(t, l, key, limit, 0)
		if !p.Allowed || p.Remaining != 0 || p.RetryAfter <= 0 || p.RetryAfter > r.RetryAfter {
			t.Fatalf("peek at an empty bucket = %+v, want allowed, 0 remaining, a wait up to %v", p, r.RetryAfter)
		}
	}
	mustRefuse(t, l, key, limit, 1, limit.Period) // the peeks recorded nothing beyond the burst
}
