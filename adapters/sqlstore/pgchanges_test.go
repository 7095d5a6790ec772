package sqlstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// feedLog records what a Changes feed reports.
type feedLog struct {
	mu     sync.Mutex
	ids    []string // reported changed
	resets int
	live   bool
	offs   int // times the feed went from live to not live
}

// The three callbacks of Watch.
func (l *feedLog) changed(id string) { l.mu.Lock(); l.ids = append(l.ids, id); l.mu.Unlock() }
func (l *feedLog) reset()            { l.mu.Lock(); l.resets++; l.mu.Unlock() }
func (l *feedLog) setLive(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.live && !on {
		l.offs++
	}
	l.live = on
}

// watch runs ch's Watch until the test ends and waits until the feed is live.
func (l *feedLog) watch(t *testing.T, ch *Changes) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ch.Watch(ctx, l.changed, l.reset, l.setLive)
	}()
	t.Cleanup(func() { cancel(); <-done })
	testenv.WaitUntil(t, "the feed is live", l.isLive)
}

func (l *feedLog) isLive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

func (l *feedLog) snapshot() (changed []string, resets, offs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids), l.resets, l.offs
}

// newTestChanges is the session feed of a fresh PostgreSQL database.
func newTestChanges(t *testing.T) (*DB, *Changes) {
	t.Helper()
	db := openTest(t, Postgres)
	ch, ok := NewChanges(db, SessionChanges, nil)
	if !ok {
		t.Fatal("no change feed on PostgreSQL")
	}
	return db, ch
}

// TestChanges_ReportsEveryWriter: an UPDATE and a DELETE of a session made by a bare SQL
// statement on another connection are reported by id, and a TRUNCATE as a reset, by the time a
// Sync begun after the statement returned has returned; a new session is not reported (nothing
// can be cached for it).
func TestChanges_ReportsEveryWriter(t *testing.T) {
	db, ch := newTestChanges(t)
	var log feedLog
	log.watch(t, ch)
	ctx := t.Context()
	sessions := NewSessions(db)
	now := time.Now()
	for _, id := range []string{"s-updated", "s-deleted", "s-kept"} {
		if err := sessions.Create(ctx, newSession(id, now), now); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(query string, args ...any) {
		t.Helper()
		if _, err := db.Bun().NewRaw(query, args...).Exec(ctx); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if err := ch.Sync(ctx); err != nil {
			t.Fatalf("Sync after %s: %v", query, err)
		}
	}
	exec("UPDATE sessions SET roles = ? WHERE id = ?", "user,admin", "s-updated")
	exec("DELETE FROM sessions WHERE id = ?", "s-deleted")
	changed, resets, _ := log.snapshot()
	if !slices.Equal(changed, []string{"s-updated", "s-deleted"}) || resets != 0 {
		t.Fatalf("after an update and a delete the feed reported changed %v and %d resets", changed, resets)
	}
	exec("TRUNCATE sessions")
	if _, resets, _ := log.snapshot(); resets != 1 {
		t.Fatalf("after a truncate the feed reported %d resets, want 1", resets)
	}
}

// TestChanges_LateBarrier: when the barrier query is not answered within queryTimeout (here the
// listening connection's server process is stopped with SIGSTOP), the waiting Sync fails and the
// feed reports not live, so that nothing is answered from memory; the feed then listens on a new
// connection and Sync succeeds again.
func TestChanges_LateBarrier(t *testing.T) {
	_, ch := newTestChanges(t)
	ch.queryTimeout = 200 * time.Millisecond
	var log feedLog
	log.watch(t, ch)
	ctx := t.Context()
	if err := ch.Sync(ctx); err != nil {
		t.Fatalf("Sync on a live feed: %v", err)
	}
	pid := int(ch.PID())
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot stop the PostgreSQL server process %d from this user: %v", pid, err)
		}
		t.Fatal(err)
	}
	resume := sync.OnceFunc(func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(resume)
	synced := make(chan error, 1)
	go func() { synced <- ch.Sync(ctx) }()
	select {
	case err := <-synced:
		if err == nil {
			t.Fatal("Sync succeeded while the listening connection could not answer")
		}
	case <-time.After(10 * time.Second): // a hang, not a speed: the query times out after 200 ms
		t.Fatal("Sync still waits 10 s after the listening connection stopped answering")
	}
	testenv.WaitUntil(t, "the feed reports not live", func() bool { _, _, offs := log.snapshot(); return offs == 1 })
	resume()
	testenv.WaitUntil(t, "the feed is live again", log.isLive)
	if err := ch.Sync(ctx); err != nil {
		t.Fatalf("Sync on the new connection: %v", err)
	}
	if got := int(ch.PID()); got == pid {
		t.Fatalf("the feed still listens on the stopped connection's process %d", pid)
	}
}

// TestChanges_PoolerEndsTheFeed: when the barrier is answered by another server process than the
// LISTEN's (here the LISTEN's is misreported, as a pooler in transaction mode would make it), the
// waiting Sync fails, the feed reports not live and Watch returns by itself: the cache stays off
// rather than trust a LISTEN whose notifications may reach other clients.
func TestChanges_PoolerEndsTheFeed(t *testing.T) {
	_, ch := newTestChanges(t)
	ch.pidSQL = "SELECT pg_backend_pid() + 1"
	var log feedLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		ch.Watch(t.Context(), log.changed, log.reset, log.setLive)
	}()
	testenv.WaitUntil(t, "the feed is live", log.isLive)
	if err := ch.Sync(t.Context()); err == nil {
		t.Fatal("Sync succeeded on a connection whose barrier another server process answered")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a hang, not a speed
		t.Fatal("Watch still runs 10 s after the barrier came from another server process")
	}
	if _, _, offs := log.snapshot(); offs != 1 || log.isLive() {
		t.Fatalf("the feed went off %d times and is live=%v; want off once, for good", offs, log.isLive())
	}
	if err := ch.Sync(t.Context()); err == nil {
		t.Fatal("Sync succeeded after the feed ended")
	}
}

// TestChanges_NotPostgres: SQLite has no notifications, so there is no feed.
func TestChanges_NotPostgres(t *testing.T) {
	if _, ok := NewChanges(openTest(t, SQLite), SessionChanges, nil); ok {
		t.Fatal("a change feed on SQLite")
	}
}
