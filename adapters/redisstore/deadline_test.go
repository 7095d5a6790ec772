package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// muteRedis listens on a loopback port, accepts connections and reads whatever is written to
// them, and never answers: a Redis that hangs (stopped, or its host gone mid-reply) as a client
// sees it. Its connections are closed when the test ends.
func muteRedis(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// startSentinel runs a throw-away Redis Sentinel (startRedisConf) that names master as the
// master "mymaster", and returns its address.
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	if err := os.WriteFile(conf, []byte("sentinel monitor mymaster "+host+" "+port+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startRedisConf(t, conf, "--sentinel")
	return addr
}

// TestCallsEndWithTheContext: against a Redis that accepts connections and never answers, a
// call whose context has a 300 ms deadline is domain.ErrUnavailable once that deadline passes,
// not when the 30 s socket read timeout does, for each topology (standalone, Cluster seeds,
// Sentinels): the request timeout, and /readyz's bound on its ping, hold on a hung Redis.
func TestCallsEndWithTheContext(t *testing.T) {
	const readTimeout = 30 * time.Second
	for _, tc := range []struct {
		name string
		url  func(mute string) string
	}{
		{"standalone", func(mute string) string { return "redis://" + mute + "/0" }},
		{"cluster", func(mute string) string { return "redis+cluster://" + mute }},
		// A Sentinel that answers, naming a master that does not.
		{"sentinel", func(mute string) string { return "redis+sentinel://" + startSentinel(t, mute) + "/mymaster" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.url(muteRedis(t)), Options{DialTimeout: readTimeout, ReadTimeout: readTimeout,
				WriteTimeout: readTimeout, PoolTimeout: readTimeout})
			if err != nil {
				t.Fatal(err)
			}
			// Registered before muteRedis's cleanup runs (cleanups run last first), so the client
			// closes once the mute connections are gone and nothing of it still waits on them.
			t.Cleanup(func() { _ = c.Close() })
			st, err := NewSessions(c, "deadline:")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			s := domain.Session{ID: "s", UserID: "u", RefreshHash: hashOf(0, 0), CreatedAt: now, LastUsedAt: now,
				IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(2 * time.Hour)}
			for _, call := range []struct {
				name string
				do   func(ctx context.Context) error
			}{
				{"ping", NewPinger(c).Ping},
				{"get", func(ctx context.Context) error { _, err := st.Get(ctx, s.ID, now); return err }},
				{"create (scripts)", func(ctx context.Context) error { return st.Create(ctx, s, now) }},
			} {
				ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
				done := make(chan error, 1)
				go func() { done <- call.do(ctx) }()
				select {
				case err := <-done:
					if !errors.Is(err, domain.ErrUnavailable) {
						t.Errorf("%s on a Redis that does not answer = %v, want ErrUnavailable", call.name, err)
					}
				case <-time.After(10 * time.Second): // a hang, not a speed: the deadline is 300 ms
					t.Fatalf("%s on a Redis that does not answer: still waiting 10 s after a 300 ms deadline", call.name)
				}
				cancel()
			}
		})
	}
}
