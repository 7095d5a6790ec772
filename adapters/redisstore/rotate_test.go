package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
)

// batchHook records the largest pipeline the client sent.
type batchHook struct{ largest atomic.Int64 }

func (*batchHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*batchHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *batchHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for n := int64(len(cmds)); ; {
			old := h.largest.Load()
			if n <= old || h.largest.CompareAndSwap(old, n) {
				break
			}
		}
		return next(ctx, cmds)
	}
}

// hashOf is a refresh-token hash of domain.HashSize bytes, named after caller i's n-th token.
func hashOf(i, n int) []byte {
	return fmt.Appendf(nil, "%-*s", domain.HashSize, fmt.Sprintf("hash-%d-%d", i, n))
}

// TestRotatePipelined: on a standalone client, rotations of concurrent callers travel in
// shared pipelines (Sessions.rotator), and every caller still gets the outcome and session of
// its own script, also after the server lost its script cache (NOSCRIPT: EVAL once more).
func TestRotatePipelined(t *testing.T) {
	addr, _ := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	hook := &batchHook{}
	c.AddHook(hook)
	st, err := NewSessions(c, "pipe:")
	if err != nil {
		t.Fatal(err)
	}
	if st.rotator == nil {
		t.Fatal("a standalone client without replica waits rotates through no pipeliner")
	}
	ctx := t.Context()
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	const callers, rounds = 32, 20
	now := time.Now().UTC().Truncate(time.Millisecond)
	sessions := make([]domain.Session, callers)
	for i := range sessions {
		sessions[i] = domain.Session{ID: uuid.NewString(), UserID: fmt.Sprintf("user-%d", i), Roles: []domain.Role{domain.RoleUser},
			RefreshHash: hashOf(i, 0), CreatedAt: now, LastUsedAt: now,
			IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(3 * time.Hour)}
		if err := st.Create(ctx, sessions[i], now); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i, s := range sessions {
		done.Go(func() {
			start.Wait()
			current := s.RefreshHash
			for n := 1; n <= rounds; n++ {
				next := hashOf(i, n)
				r := domain.Rotation{SessionID: s.ID, PresentedHash: current, NewHash: next,
					Successor: []byte(fmt.Sprintf("sealed-%d-%d", i, n)), Now: now.Add(time.Duration(n) * time.Second),
					Grace: time.Second, IdleTTL: time.Hour}
				outcome, got, err := st.Rotate(ctx, r)
				switch {
				case err != nil:
					errs <- fmt.Errorf("caller %d round %d: %w", i, n, err)
					return
				case outcome != domain.Rotated || got.ID != s.ID || got.UserID != s.UserID ||
					string(got.RefreshHash) != string(next) || string(got.PrevHash) != string(current) ||
					string(got.Successor) != string(r.Successor) || got.Generation != n:
					errs <- fmt.Errorf("caller %d round %d: outcome %d, session %s of %s, generation %d, hashes %q/%q, successor %q",
						i, n, outcome, got.ID, got.UserID, got.Generation, got.RefreshHash, got.PrevHash, got.Successor)
					return
				}
				current = next
			}
		})
	}
	start.Done()
	done.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := hook.largest.Load(); n < 2 {
		t.Errorf("the largest pipeline carried %d command(s): %d concurrent rotations were never batched", n, callers)
	}
	// A retired token presented again still revokes its session through the pipeliner.
	s := sessions[0]
	r := domain.Rotation{SessionID: s.ID, PresentedHash: hashOf(0, rounds-5), NewHash: []byte("late"),
		Now: now.Add(time.Hour / 2), Grace: time.Second, IdleTTL: time.Hour}
	if _, _, err := st.Rotate(ctx, r); err == nil || !errors.Is(err, domain.ErrRefreshReuse) {
		t.Fatalf("reused token: %v, want ErrRefreshReuse", err)
	}
	if _, err := st.Get(ctx, s.ID, r.Now); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("after reuse Get = %v, want ErrNotFound", err)
	}
}

// TestRotateReplicasNotPipelined: with WaitForReplicas a rotation keeps its own connection, on
// which its WAIT follows it (durable.go); a Cluster client keeps the plain path too.
func TestRotateReplicasNotPipelined(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	st, err := NewSessionsWith(c, "", WaitForReplicas(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.rotator != nil {
		t.Fatal("WaitForReplicas: rotations must not go through the pipeliner")
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = cc.Close() })
	if st, err = NewSessions(cc, ""); err != nil || st.rotator != nil {
		t.Fatalf("cluster: rotator %v, %v", st.rotator, err)
	}
}

// TestRotatePipelinedHonoursContext: a rotation waiting on a Redis that does not answer returns
// when its caller's context ends (the request timeout), not when the socket read times out;
// the store answers again once Redis does.
func TestRotatePipelinedHonoursContext(t *testing.T) {
	addr, proc := startRedis(t)
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: time.Minute, WriteTimeout: time.Minute})
	t.Cleanup(func() { _ = c.Close() })
	st, err := NewSessions(c, "ctx:")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := domain.Session{ID: uuid.NewString(), UserID: "u", RefreshHash: hashOf(0, 0), CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(3 * time.Hour)}
	if err := st.Create(t.Context(), s, now); err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = proc.Signal(syscall.SIGCONT)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	r := domain.Rotation{SessionID: s.ID, PresentedHash: s.RefreshHash, NewHash: hashOf(0, 1), Now: now.Add(time.Second),
		Grace: time.Minute, IdleTTL: time.Hour}
	if _, _, err := st.Rotate(ctx, r); !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("rotate on a stopped Redis = %v, want ErrUnavailable from the context's deadline", err)
	}
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	// The abandoned rotation may have run once Redis woke: the same rotation again is then the
	// grace replay of its predecessor, and either way the session holds the new hash.
	outcome, got, err := st.Rotate(t.Context(), r)
	if err != nil || (outcome != domain.Rotated && outcome != domain.GraceReplay) || string(got.RefreshHash) != string(r.NewHash) {
		t.Fatalf("after Redis woke: outcome %d, hash %q, %v", outcome, got.RefreshHash, err)
	}
}
