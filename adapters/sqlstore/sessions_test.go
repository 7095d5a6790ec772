package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

var kinds = []Kind{SQLite, MySQL, Postgres}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func newSession(id string, now time.Time) domain.Session {
	return domain.Session{
		ID: id, UserID: "user-1", Roles: []domain.Role{domain.RoleUser},
		RefreshHash: hash(id + "-t0"), CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(7 * 24 * time.Hour), AbsExpiresAt: now.Add(30 * 24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test",
	}
}

func TestRotateConcurrent(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			store := NewSessions(openTest(t, kind))
			now := time.Now().UTC()
			sess := newSession("s-race", now)
			if err := store.Create(ctx, sess, now); err != nil {
				t.Fatal(err)
			}
			const callers = 50
			type result struct {
				outcome domain.RotateOutcome
				sess    domain.Session
				err     error
			}
			results := make([]result, callers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range callers {
				wg.Go(func() {
					<-start
					o, s, err := store.Rotate(ctx, domain.Rotation{
						SessionID: sess.ID, PresentedHash: sess.RefreshHash,
						NewHash: hash(fmt.Sprintf("new-%d", i)), Successor: []byte(fmt.Sprintf("sealed-%d", i)),
						Now: now.Add(time.Second), Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour,
					})
					results[i] = result{o, s, err}
				})
			}
			close(start)
			wg.Wait()

			var rotated, replays int
			var winner []byte
			for _, r := range results {
				if r.err != nil {
					t.Fatalf("Rotate: %v", r.err)
				}
				if r.outcome == domain.Rotated {
					rotated++
					winner = r.sess.Successor
				}
			}
			for _, r := range results {
				if r.outcome == domain.GraceReplay {
					replays++
					if !bytes.Equal(r.sess.Successor, winner) {
						t.Fatalf("grace replay got successor %q, winner stored %q", r.sess.Successor, winner)
					}
				}
			}
			if rotated != 1 || replays != callers-1 {
				t.Fatalf("rotated %d, grace replays %d; want 1 and %d", rotated, replays, callers-1)
			}
			got, err := store.Get(ctx, sess.ID, time.Now())
			if err != nil {
				t.Fatalf("session gone after the race: %v", err)
			}
			if got.Generation != sess.Generation+1 || !bytes.Equal(got.PrevHash, sess.RefreshHash) {
				t.Fatalf("generation %d prev %x", got.Generation, got.PrevHash)
			}

			t.Run("replay after grace revokes the session", func(t *testing.T) {
				_, _, err := store.Rotate(ctx, domain.Rotation{
					SessionID: sess.ID, PresentedHash: sess.RefreshHash, NewHash: hash("late"),
					Now: now.Add(time.Minute), Grace: 10 * time.Second, IdleTTL: time.Hour,
				})
				if !errors.Is(err, domain.ErrRefreshReuse) {
					t.Fatalf("Rotate = %v, want ErrRefreshReuse", err)
				}
				if _, err := store.Get(ctx, sess.ID, time.Now()); !errors.Is(err, domain.ErrNotFound) {
					t.Fatalf("Get after reuse = %v, want ErrNotFound", err)
				}
			})
		})
	}
}

func TestRotateRules(t *testing.T) {
	ctx := context.Background()
	store := NewSessions(openTest(t, SQLite))
	now := time.Now().UTC().Truncate(time.Millisecond)
	rot := func(id string, presented []byte, at time.Time, next string) (domain.RotateOutcome, domain.Session, error) {
		return store.Rotate(ctx, domain.Rotation{
			SessionID: id, PresentedHash: presented, NewHash: hash(next), Successor: []byte("sealed-" + next),
			Now: at, Grace: 10 * time.Second, IdleTTL: time.Hour,
		})
	}

	t.Run("rotation moves idle limit, capped by absolute", func(t *testing.T) {
		s := newSession("s-cap", now)
		s.AbsExpiresAt = now.Add(30 * time.Minute)
		if err := store.Create(ctx, s, now); err != nil {
			t.Fatal(err)
		}
		o, got, err := rot(s.ID, s.RefreshHash, now.Add(time.Second), "a")
		if err != nil || o != domain.Rotated {
			t.Fatalf("Rotate = %v, %v", o, err)
		}
		if !got.IdleExpiresAt.Equal(s.AbsExpiresAt) || !bytes.Equal(got.RefreshHash, hash("a")) ||
			!bytes.Equal(got.Successor, []byte("sealed-a")) || !got.RotatedAt.Equal(now.Add(time.Second)) {
			t.Fatalf("after rotation: %+v", got)
		}
	})
	t.Run("a token two generations old revokes", func(t *testing.T) {
		s := newSession("s-old", now)
		if err := store.Create(ctx, s, now); err != nil {
			t.Fatal(err)
		}
		if o, _, err := rot(s.ID, s.RefreshHash, now, "b1"); err != nil || o != domain.Rotated {
			t.Fatal(o, err)
		}
		if o, _, err := rot(s.ID, hash("b1"), now, "b2"); err != nil || o != domain.Rotated {
			t.Fatal(o, err)
		}
		if _, _, err := rot(s.ID, s.RefreshHash, now, "b3"); !errors.Is(err, domain.ErrRefreshReuse) {
			t.Fatalf("Rotate = %v, want ErrRefreshReuse", err)
		}
	})
	t.Run("expired or missing is not found", func(t *testing.T) {
		s := newSession("s-exp", now)
		if err := store.Create(ctx, s, now); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rot(s.ID, s.RefreshHash, s.IdleExpiresAt, "c"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("expired: %v", err)
		}
		if _, _, err := rot("nope", s.RefreshHash, now, "c"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
	t.Run("cancelled context is an error", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := store.Rotate(cctx, domain.Rotation{SessionID: "x", PresentedHash: hash("x"), Now: now}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Rotate = %v, want context.Canceled", err)
		}
	})
	t.Run("purge removes only expired sessions", func(t *testing.T) {
		live, dead := newSession("s-live", now), newSession("s-dead", now.Add(-48*time.Hour))
		dead.IdleExpiresAt = now.Add(-time.Hour)
		for _, s := range []domain.Session{live, dead} {
			if err := store.Create(ctx, s, now); err != nil {
				t.Fatal(err)
			}
		}
		n, err := store.PurgeExpired(ctx, now)
		if err != nil || n < 1 {
			t.Fatalf("PurgeExpired = %d, %v", n, err)
		}
		if _, err := store.Get(ctx, live.ID, time.Now()); err != nil {
			t.Fatalf("live session purged: %v", err)
		}
	})
}
