package memstore_test

import (
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/domain"
)

func benchSession(id string, now time.Time) domain.Session {
	return domain.Session{ID: id, UserID: "user-" + id, Roles: []domain.Role{domain.RoleUser},
		RefreshHash: []byte(rand.Text()), CreatedAt: now, LastUsedAt: now,
		IdleExpiresAt: now.Add(7 * 24 * time.Hour), AbsExpiresAt: now.Add(30 * 24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "bench"}
}

func BenchmarkSessionGet(b *testing.B) {
	st := memstore.NewSessions()
	now := time.Now()
	const n = 1024
	for i := range n {
		if err := st.Create(b.Context(), benchSession(strconv.Itoa(i), now), now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := st.Get(b.Context(), strconv.Itoa(i%n), now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkRotate(b *testing.B) {
	st := memstore.NewSessions()
	now := time.Now()
	s := benchSession("s", now)
	if err := st.Create(b.Context(), s, now); err != nil {
		b.Fatal(err)
	}
	current := s.RefreshHash
	b.ReportAllocs()
	for b.Loop() {
		next := []byte(rand.Text())
		r := domain.Rotation{SessionID: s.ID, PresentedHash: current, NewHash: next, Successor: next,
			Now: now, Grace: 10 * time.Second, IdleTTL: 7 * 24 * time.Hour}
		if outcome, _, err := st.Rotate(b.Context(), r); err != nil || outcome != domain.Rotated {
			b.Fatal(outcome, err)
		}
		current = next
	}
}
