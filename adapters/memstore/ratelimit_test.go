package memstore

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// fakeClock is a ports.Clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (l *RateLimiter) size() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].tat)
		l.shards[i].mu.Unlock()
	}
	return n
}

// TestRateLimiterForgetsIdleKeys: memory holds only keys hit within their last period.
func TestRateLimiterForgetsIdleKeys(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(clock)
	limit := ports.RateLimit{Burst: 5, Period: time.Minute}
	const keys = 20_000
	for i := range keys {
		if _, err := l.Allow(t.Context(), "idle:"+strconv.Itoa(i), limit, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.size(); n != keys {
		t.Fatalf("%d keys held, want %d", n, keys)
	}
	clock.advance(limit.Period)
	// Enough calls on fresh keys (n = 0 stores nothing) to trigger every shard's sweep.
	for i := range keys {
		if _, err := l.Allow(t.Context(), "busy:"+strconv.Itoa(i), limit, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.size(); n != 0 {
		t.Fatalf("%d keys still held a period after their last hit", n)
	}
}

// TestRateLimiterExactRefill checks the arithmetic on a fake clock: one hit back per
// Period/Burst, never more than Burst banked.
func TestRateLimiterExactRefill(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewRateLimiter(clock)
	limit := ports.RateLimit{Burst: 4, Period: 4 * time.Second}
	allow := func(n int) ports.RateResult {
		t.Helper()
		r, err := l.Allow(t.Context(), "k", limit, n)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := allow(4); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("burst: %+v", r)
	}
	if r := allow(1); r.Allowed || r.RetryAfter != time.Second {
		t.Fatalf("over the burst: %+v, want RetryAfter 1s", r)
	}
	clock.advance(999 * time.Millisecond)
	if r := allow(1); r.Allowed || r.RetryAfter != time.Millisecond {
		t.Fatalf("1ms early: %+v", r)
	}
	clock.advance(time.Millisecond)
	if r := allow(1); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("on time: %+v", r)
	}
	clock.advance(time.Hour)
	if r := allow(0); !r.Allowed || r.Remaining != 4 {
		t.Fatalf("after a long rest: %+v, want 4 remaining", r)
	}
	for _, bad := range []ports.RateLimit{{Burst: 0, Period: time.Second}, {Burst: 2, Period: 1}} {
		if _, err := l.Allow(t.Context(), "k", bad, 1); err == nil {
			t.Errorf("limit %+v accepted", bad)
		}
	}
	if _, err := l.Allow(t.Context(), "k", limit, -1); err == nil {
		t.Error("negative n accepted")
	}
}

func TestLimiterModuleWires(t *testing.T) {
	err := fx.ValidateApp(
		fx.Provide(func() ports.Clock { return &fakeClock{} }),
		Module,
		LimiterModule,
		fx.Invoke(func(ports.RateLimiter, ports.SessionStore) {}),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRateLimiterAllow is one login-throttle check, many goroutines over many keys.
func BenchmarkRateLimiterAllow(b *testing.B) {
	l := NewRateLimiter(nil)
	limit := ports.RateLimit{Burst: 1 << 20, Period: time.Minute}
	const n = 1024
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "login:ip:192.0.2." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(b.Context(), keys[i%n], limit, 1); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
