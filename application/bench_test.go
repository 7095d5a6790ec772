package application_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/ports"
)

// benchStores runs a benchmark over the memory session store and the SQLite one.
func benchStores(b *testing.B, run func(b *testing.B, w *world)) {
	b.Run("memstore", func(b *testing.B) { run(b, newWorld(b)) })
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "bench.db"), sqlstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		run(b, newWorldWith(b, sqlstore.NewSessions(db)))
	})
}

// BenchmarkAuthenticate is the hot path of every protected request: verify the access token
// and check its session is live.
func BenchmarkAuthenticate(b *testing.B) {
	benchStores(b, func(b *testing.B, w *world) {
		tok := w.registerAndLogin(b, "bench@x.com")
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := w.auth.Handle(ctx, tok.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkLogin is a password login: argon2id verify, a new session and an access token.
func BenchmarkLogin(b *testing.B) {
	benchStores(b, func(b *testing.B, w *world) {
		w.registerAndLogin(b, "bench@x.com")
		ctx := context.Background()
		in := application.LoginInput{Identifier: "bench@x.com", Password: goodPassword}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := w.login.Handle(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRefresh is one refresh-token rotation with a new access token.
func BenchmarkRefresh(b *testing.B) {
	benchStores(b, func(b *testing.B, w *world) {
		tok := w.registerAndLogin(b, "bench@x.com")
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			next, err := w.refresh.Handle(ctx, tok.RefreshToken)
			if err != nil {
				b.Fatal(err)
			}
			tok = next
		}
	})
}

var _ ports.SessionStore = (*sqlstore.Sessions)(nil)
