package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// The benchmarks run on SQLite always, and on MySQL and PostgreSQL when their
// PORTCULLIS_TEST_* URLs are set (they skip otherwise).

func BenchmarkSessionGet(b *testing.B) {
	for _, kind := range kinds {
		b.Run(string(kind), func(b *testing.B) {
			ctx := context.Background()
			store := NewSessions(openTest(b, kind))
			s := newSession("bench-get", time.Now())
			if err := store.Create(ctx, s, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.Get(ctx, s.ID, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRotate measures one winning rotation: each iteration presents the current token.
func BenchmarkRotate(b *testing.B) {
	for _, kind := range kinds {
		b.Run(string(kind), func(b *testing.B) {
			ctx := context.Background()
			store := NewSessions(openTest(b, kind))
			now := time.Now()
			s := newSession("bench-rotate", now)
			if err := store.Create(ctx, s, time.Now()); err != nil {
				b.Fatal(err)
			}
			current := s.RefreshHash
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				next := hash(fmt.Sprint("bench-", i))
				o, _, err := store.Rotate(ctx, domain.Rotation{
					SessionID: s.ID, PresentedHash: current, NewHash: next, Successor: next,
					Now: now, Grace: 10 * time.Second, IdleTTL: time.Hour,
				})
				if err != nil || o != domain.Rotated {
					b.Fatalf("Rotate = %v, %v", o, err)
				}
				current = next
			}
		})
	}
}

func BenchmarkUserByEmail(b *testing.B) {
	for _, kind := range kinds {
		b.Run(string(kind), func(b *testing.B) {
			ctx := context.Background()
			users := NewUsers(openTest(b, kind))
			now := time.Now()
			// A table with some rows, so the lookup goes through the index.
			for i := range 200 {
				u := domain.User{
					ID: fmt.Sprintf("bench-user-%03d", i), Email: fmt.Sprintf("u%03d@example.com", i),
					Roles: []domain.Role{domain.RoleUser}, PasswordHash: "$argon2id$x", CreatedAt: now, UpdatedAt: now,
				}
				if err := users.Create(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := users.ByEmail(ctx, "u123@example.com"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
