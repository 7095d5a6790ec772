package redisstore

import (
	"strconv"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func openLimiter(t testing.TB) (*RateLimiter, *Sessions) {
	t.Helper()
	st, c := openBench(t)
	l, err := NewRateLimiter(c, st.keys.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

// TestRateLimiterKeyExpires checks what the contract cannot see: a key is under the prefix,
// and lives only until its bucket is full again, so idle keys cost no memory.
func TestRateLimiterKeyExpires(t *testing.T) {
	l, _ := openLimiter(t)
	ctx := t.Context()
	limit := ports.RateLimit{Burst: 4, Period: 2 * time.Second}
	if _, err := l.Allow(ctx, "login:ip:192.0.2.1", limit, 2); err != nil {
		t.Fatal(err)
	}
	key := l.keys.rateLimit("login:ip:192.0.2.1")
	ttl, err := l.client.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Two hits of four put the TAT half a period ahead.
	if ttl <= 0 || ttl > limit.Period/2 {
		t.Fatalf("PTTL %s = %s, want in (0, %s]", key, ttl, limit.Period/2)
	}
	if _, err := NewRateLimiter(l.client, "bad{prefix"); err == nil {
		t.Fatal("a prefix with a brace was accepted")
	}
	for _, bad := range []ports.RateLimit{{Burst: 0, Period: time.Second}, {Burst: 2, Period: time.Microsecond}} {
		if _, err := l.Allow(ctx, "k", bad, 1); err == nil {
			t.Errorf("limit %+v accepted", bad)
		}
	}
}

func TestLimiterModuleWires(t *testing.T) {
	err := fx.ValidateApp(
		fx.Supply(Config{URL: "redis://127.0.0.1:6379/0", Prefix: "x:"}),
		Module,
		LimiterModule,
		fx.Invoke(func(ports.RateLimiter, ports.SessionStore) {}),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRateLimiterAllow is one login-throttle check: one Lua script, many goroutines over
// many keys.
func BenchmarkRateLimiterAllow(b *testing.B) {
	testenv.RedisURL(b)
	l, _ := openLimiter(b)
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
