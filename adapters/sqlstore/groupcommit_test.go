package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// heldRounds returns the group commit of store's swaps with its first round held until waiting
// calls are queued, so that a test knows which calls share it.
func heldRounds(t *testing.T, store *Sessions, waiting int) *swapRounds {
	t.Helper()
	ctx := context.Background()
	r := store.pgSwaps
	if r == nil {
		db, stmt, err := store.swapStmt.get(ctx, store.db)
		if err != nil || stmt == nil {
			t.Fatalf("swap statement on SQLite: %v (statement %v)", err, stmt)
		}
		r = store.swapRounds(db, stmt)
	}
	var once sync.Once
	r.beforeRound = func() {
		once.Do(func() {
			deadline := time.Now().Add(10 * time.Second)
			for {
				r.mu.Lock()
				n := len(r.next)
				r.mu.Unlock()
				if n >= waiting {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("only %d of %d calls queued for the first round", n, waiting)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	return r
}

func rotation(s domain.Session, newHash string, now time.Time) domain.Rotation {
	return domain.Rotation{
		SessionID: s.ID, PresentedHash: s.RefreshHash, NewHash: hash(newHash), Successor: []byte("sealed-" + newHash),
		Now: now, Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour,
	}
}

// Concurrent refreshes on SQLite and PostgreSQL share one transaction, and each still gets its
// own outcome: every session rotates once, two callers of one token rotate it once (the other
// replays within the grace period), and what they were told is what a new connection reads.
func TestRotationsOfConcurrentRefreshesCommitTogether(t *testing.T) {
	urls := map[Kind]func(t *testing.T) string{
		SQLite:   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "portcullis.db") },
		Postgres: func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
	for kind, url := range urls {
		t.Run(string(kind), func(t *testing.T) { rotationsCommitTogether(t, url(t)) })
	}
}

func rotationsCommitTogether(t *testing.T, url string) {
	ctx := context.Background()
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	store := NewSessions(db)
	now := time.Now().UTC()
	const distinct = 8
	var sessions []domain.Session
	for i := range distinct + 1 {
		s := newSession(fmt.Sprintf("s-%d", i), now)
		if err := store.Create(ctx, s, now); err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	dup := sessions[distinct]
	r := heldRounds(t, store, distinct+2)

	type result struct {
		outcome domain.RotateOutcome
		sess    domain.Session
		err     error
	}
	results := make([]result, distinct+2)
	var wg sync.WaitGroup
	for i := range distinct + 2 {
		s, name := sessions[min(i, distinct)], fmt.Sprintf("new-%d", i)
		wg.Go(func() {
			o, got, err := store.Rotate(ctx, rotation(s, name, now.Add(time.Second)))
			results[i] = result{o, got, err}
		})
	}
	wg.Wait()

	if rounds, calls := r.rounds.Load(), r.calls.Load(); rounds != 1 || calls != distinct+2 {
		t.Fatalf("%d rounds ran %d swaps; want the %d swaps in one round", rounds, calls, distinct+2)
	}
	for i := range distinct {
		if res := results[i]; res.err != nil || res.outcome != domain.Rotated ||
			!bytes.Equal(res.sess.RefreshHash, hash(fmt.Sprintf("new-%d", i))) {
			t.Errorf("session %d: outcome %v, err %v; want rotated to its new hash", i, res.outcome, res.err)
		}
	}
	var rotated, replayed int
	var winner []byte
	for _, res := range results[distinct:] {
		switch {
		case res.err != nil:
			t.Errorf("caller of the shared token: %v", res.err)
		case res.outcome == domain.Rotated:
			rotated++
			winner = res.sess.RefreshHash
		case res.outcome == domain.GraceReplay:
			replayed++
		}
	}
	if rotated != 1 || replayed != 1 {
		t.Fatalf("two callers of one token: %d rotated, %d replayed; want 1 and 1", rotated, replayed)
	}

	// A new connection reads what the callers were told.
	other, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fresh := NewSessions(other)
	for i, s := range sessions {
		got, err := fresh.Get(ctx, s.ID, now.Add(2*time.Second))
		want := hash(fmt.Sprintf("new-%d", i))
		if s.ID == dup.ID {
			want = winner
		}
		if err != nil || !bytes.Equal(got.RefreshHash, want) || got.Generation != 1 {
			t.Errorf("%s as stored: generation %d, err %v; want generation 1 with the hash its caller got",
				s.ID, got.Generation, err)
		}
	}
}

// A swap that fails inside a shared round costs only its own caller: the round is rolled back
// and its swaps run one by one. A caller that gave up before the round began is left out.
func TestGroupCommitGivesEachCallItsOwnOutcome(t *testing.T) {
	for _, kind := range []Kind{SQLite, Postgres} {
		t.Run(string(kind), func(t *testing.T) { eachCallItsOwnOutcome(t, kind) })
	}
}

func eachCallItsOwnOutcome(t *testing.T, kind Kind) {
	ctx := context.Background()
	store := NewSessions(openTest(t, kind))
	now := time.Now().UTC()
	good := newSession("s-good", now)
	if err := store.Create(ctx, good, now); err != nil {
		t.Fatal(err)
	}
	r := heldRounds(t, store, 3)

	gone, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	var badErr, goneErr, goodErr error
	var goneN int64
	var outcome domain.RotateOutcome
	bad, never := func() (int64, error) { return r.exec(ctx, "too few arguments") }, func() (int64, error) { return r.exec(gone, "never run") }
	if kind == Postgres {
		bad = func() (int64, error) { return r.execQuery(ctx, "s-bad", "UPDATE sessions SET no_such_column = 1") }
		never = func() (int64, error) { return r.execQuery(gone, "s-gone", "UPDATE sessions SET generation = 99") }
	}
	wg.Go(func() { _, badErr = bad() })
	wg.Go(func() { goneN, goneErr = never() })
	wg.Go(func() { outcome, _, goodErr = store.Rotate(ctx, rotation(good, "good-1", now.Add(time.Second))) })
	wg.Wait()

	if badErr == nil {
		t.Error("a swap with the wrong arguments reported no error")
	}
	if !errors.Is(goneErr, context.Canceled) || goneN != 0 {
		t.Errorf("a caller that gave up: %d rows, %v; want 0 rows and its context's error", goneN, goneErr)
	}
	if goodErr != nil || outcome != domain.Rotated {
		t.Fatalf("the good swap beside them: %v, %v; want rotated", outcome, goodErr)
	}
	got, err := store.Get(ctx, good.ID, now.Add(2*time.Second))
	if err != nil || !bytes.Equal(got.RefreshHash, hash("good-1")) {
		t.Fatalf("stored after the round: %v; want the good swap's hash", err)
	}
	if rounds := r.rounds.Load(); rounds != 1 {
		t.Errorf("%d rounds; want the three calls in one", rounds)
	}
}
