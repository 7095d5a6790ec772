package redisstore

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
)

func benchSession(now time.Time) domain.Session {
	return domain.Session{ID: uuid.NewString(), UserID: uuid.NewString(), Roles: []domain.Role{domain.RoleUser},
		RefreshHash: []byte(rand.Text()), CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(7 * 24 * time.Hour), AbsExpiresAt: now.Add(30 * 24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench"}
}

// BenchmarkSessionGet is the strict-mode hot path: one HGETALL per authenticated request.
func BenchmarkSessionGet(b *testing.B) {
	st, _ := openBench(b)
	now := time.Now()
	const n = 256
	ids := make([]string, n)
	for i := range ids {
		s := benchSession(now)
		if err := st.Create(b.Context(), s, now); err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := st.Get(b.Context(), ids[i%n], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkRotate is one refresh: one Lua script.
func BenchmarkRotate(b *testing.B) {
	st, _ := openBench(b)
	now := time.Now()
	s := benchSession(now)
	if err := st.Create(b.Context(), s, now); err != nil {
		b.Fatal(err)
	}
	current := s.RefreshHash
	successor := make([]byte, 72)
	b.ReportAllocs()
	for b.Loop() {
		next := []byte(rand.Text())
		r := domain.Rotation{SessionID: s.ID, PresentedHash: current, NewHash: next, Successor: successor,
			Now: now, Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour}
		if outcome, _, err := st.Rotate(b.Context(), r); err != nil || outcome != domain.Rotated {
			b.Fatal(outcome, err)
		}
		current = next
	}
}

// BenchmarkRotateParallel is refreshes of many clients at once, each rotating its own session:
// their scripts share pipelines (Sessions.rotator), as under the load test's 32 connections.
func BenchmarkRotateParallel(b *testing.B) {
	st, _ := openBench(b)
	now := time.Now()
	var next atomic.Int64
	successor := make([]byte, 72)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		s := benchSession(now)
		s.ID = fmt.Sprintf("%s-%d", s.ID, next.Add(1))
		if err := st.Create(b.Context(), s, now); err != nil {
			b.Error(err)
			return
		}
		current := s.RefreshHash
		for pb.Next() {
			hash := []byte(rand.Text())
			r := domain.Rotation{SessionID: s.ID, PresentedHash: current, NewHash: hash, Successor: successor,
				Now: now, Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour}
			if outcome, _, err := st.Rotate(b.Context(), r); err != nil || outcome != domain.Rotated {
				b.Error(outcome, err)
				return
			}
			current = hash
		}
	})
}

// BenchmarkRotateReplicated is one refresh on a master with one replica, asynchronous and with
// WaitForReplicas(1) (PORTCULLIS_REDIS_WAIT_REPLICAS=1): what waiting for the replica costs a
// rotation (docs/scaling.md). Compare the two with -count 5 and benchstat, or by ratio.
func BenchmarkRotateReplicated(b *testing.B) {
	mc, _, _ := startReplicated(b)
	for _, bc := range []struct {
		name string
		opts []SessionOption
	}{{"async", nil}, {"wait=1", []SessionOption{WaitForReplicas(1, time.Second)}}} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := NewSessionsWith(mc, "bench:", bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			s := benchSession(now)
			if err := st.Create(b.Context(), s, now); err != nil {
				b.Fatal(err)
			}
			current := s.RefreshHash
			successor := make([]byte, 72)
			b.ReportAllocs()
			for b.Loop() {
				next := []byte(rand.Text())
				r := domain.Rotation{SessionID: s.ID, PresentedHash: current, NewHash: next, Successor: successor,
					Now: now, Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour}
				if outcome, _, err := st.Rotate(b.Context(), r); err != nil || outcome != domain.Rotated {
					b.Fatal(outcome, err)
				}
				current = next
			}
		})
	}
}
