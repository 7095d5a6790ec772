package barrier

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

var errDown = errors.New("down")

// waitAll starts n callers of Wait and returns their outcomes once all have returned.
func waitAll(ctx context.Context, b *Rounds, n int) <-chan []error {
	out := make(chan []error, 1)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.Wait(ctx) })
	}
	go func() { wg.Wait(); out <- errs }()
	return out
}

// waitWaiters waits until n callers have joined the open round.
func waitWaiters(t *testing.T, b *Rounds, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang, not a speed
	for {
		b.mu.Lock()
		ready := b.next != nil && b.next.waiters == n
		b.mu.Unlock()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers never joined one round", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// joined waits until n callers have joined the open round, then takes it.
func joined(t *testing.T, b *Rounds, n int) *Round {
	t.Helper()
	waitWaiters(t, b, n)
	return b.Take()
}

// Callers waiting when a round is taken share its outcome; a caller after Take joins the next.
func TestRoundsShareOneQuery(t *testing.T) {
	b := New(errDown)
	b.SetUp(true)
	ctx := t.Context()
	first := waitAll(ctx, b, 8)
	r := joined(t, b, 8)
	later := waitAll(ctx, b, 1)
	r.Finish(nil)
	for i, err := range <-first {
		if err != nil {
			t.Errorf("caller %d of the passed round: %v", i, err)
		}
	}
	next := joined(t, b, 1)
	boom := errors.New("the query failed")
	next.Finish(boom)
	if errs := <-later; !errors.Is(errs[0], boom) {
		t.Fatalf("the caller after Take got %v, want the next round's outcome", errs[0])
	}
}

// While the feed is down Wait fails at once, and going down fails the round not taken yet.
func TestRoundsWhileDown(t *testing.T) {
	b := New(errDown)
	if err := b.Wait(t.Context()); !errors.Is(err, errDown) {
		t.Fatalf("Wait before the feed is up: %v, want the not-live error", err)
	}
	b.SetUp(true)
	pending := waitAll(t.Context(), b, 3)
	waitWaiters(t, b, 3)
	b.SetUp(false)
	for i, err := range <-pending {
		if !errors.Is(err, errDown) {
			t.Errorf("caller %d when the feed went down: %v, want the not-live error", i, err)
		}
	}
	if r := b.Take(); r != nil {
		t.Fatal("a round is left to send after the feed went down")
	}
}

// A caller whose context ends stops waiting; the round goes on for the others.
func TestRoundsCallerGivesUp(t *testing.T) {
	b := New(errDown)
	b.SetUp(true)
	ctx, cancel := context.WithCancel(t.Context())
	gone := waitAll(ctx, b, 1)
	stays := waitAll(t.Context(), b, 1)
	r := joined(t, b, 2)
	cancel()
	if errs := <-gone; !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("a caller that gave up: %v", errs[0])
	}
	r.Finish(nil)
	if errs := <-stays; errs[0] != nil {
		t.Fatalf("the caller that stayed: %v", errs[0])
	}
}

// Reconnect calls once again after each failure until ctx ends.
func TestReconnectUntilDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Reconnect(ctx, discard(), "lost", func(context.Context) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return errors.New("connection failed")
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang, not a speed: two pauses of 50 and 100 ms
		t.Fatal("Reconnect did not return after its context ended")
	}
	if calls != 3 {
		t.Fatalf("once ran %d times, want 3", calls)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
