package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestChangesLatePong: when a barrier PING is not answered within pingTimeout (here Redis is
// stopped with SIGSTOP), the feed reports not live and the waiting Sync fails, so that nothing is
// answered from memory; once Redis answers again the feed subscribes anew and Sync succeeds.
func TestChangesLatePong(t *testing.T) {
	addr, proc := startRedis(t)
	client := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = client.Close() })
	ch, ok := NewChanges(client, "late:", nil)
	if !ok {
		t.Fatal("no change feed on a standalone Redis")
	}
	ch.pingTimeout = 200 * time.Millisecond
	var live atomic.Bool
	ctx, cancel := context.WithCancel(t.Context())
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		ch.Watch(ctx, func(string) {}, func() {}, live.Store)
	}()
	t.Cleanup(func() { cancel(); <-watching })
	testenv.WaitUntil(t, "the feed is live", live.Load)
	if err := ch.Sync(ctx); err != nil {
		t.Fatalf("Sync on a live feed: %v", err)
	}

	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume := sync.OnceFunc(func() {
		if err := proc.Signal(syscall.SIGCONT); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(resume)
	synced := make(chan error, 1)
	go func() { synced <- ch.Sync(ctx) }()
	select {
	case err := <-synced:
		if err == nil {
			t.Fatal("Sync succeeded while Redis could not answer its PING")
		}
	case <-time.After(10 * time.Second): // a hang, not a speed: the PING times out after 200 ms
		t.Fatal("Sync still waits 10 s after Redis stopped answering")
	}
	if live.Load() {
		t.Fatal("the feed still reports live after a PING went unanswered")
	}

	resume()
	testenv.WaitUntil(t, "the feed is live again", live.Load)
	if err := ch.Sync(ctx); err != nil {
		t.Fatalf("Sync once Redis answers again: %v", err)
	}
}
