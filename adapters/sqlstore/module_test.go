package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
)

func TestModuleStartsMigratesAndStops(t *testing.T) {
	cfg := Config{URL: "sqlite://" + filepath.Join(t.TempDir(), "p.db"), AutoMigrate: true}
	var (
		users    ports.UserStore
		keys     ports.KeyStore
		sessions ports.SessionStore
	)
	opts := []fx.Option{
		fx.Supply(cfg), Module, SessionsModule,
		fx.Populate(&users, &keys, &sessions), fx.NopLogger,
	}
	if err := fx.ValidateApp(opts...); err != nil {
		t.Fatalf("ValidateApp: %v", err)
	}
	app := fx.New(opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	now := time.Now()
	if err := users.Create(ctx, domain.User{ID: "u1", Email: "a@example.com", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("Create after start: %v", err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := users.ByID(ctx, "u1"); err == nil {
		t.Fatal("the database is still open after Stop")
	}
}

func TestModuleStartFailsFast(t *testing.T) {
	// A port nothing listens on: take one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	_ = l.Close()

	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"schema pending without AutoMigrate", Config{URL: filepath.Join(t.TempDir(), "p.db")}, ErrSchemaPending},
		{"MySQL unreachable", Config{URL: "mysql://root@" + deadAddr + "/db", AutoMigrate: true}, domain.ErrUnavailable},
		{"PostgreSQL unreachable", Config{URL: "postgres://postgres@" + deadAddr + "/db", AutoMigrate: true}, domain.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fx.New(fx.Supply(tt.cfg), Module, fx.Invoke(func(*DB) {}), fx.NopLogger)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := app.Start(ctx); !errors.Is(err, tt.want) {
				t.Fatalf("Start = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("bad URL fails construction", func(t *testing.T) {
		app := fx.New(fx.Supply(Config{URL: "redis://x"}), Module, fx.Invoke(func(*DB) {}), fx.NopLogger)
		if err := app.Err(); err == nil {
			t.Fatal("fx.New accepted a redis:// database URL")
		}
	})
}

func TestPurgerPurgesOnlyThisPackagesStores(t *testing.T) {
	// names builds the graph of opts (without starting it) and returns the purger's jobs.
	names := func(opts ...fx.Option) []string {
		var out []string
		cfg := Config{URL: "sqlite://" + filepath.Join(t.TempDir(), "p.db"), AutoMigrate: true}
		app := fx.New(append(opts, fx.Supply(cfg), Module, fx.NopLogger, fx.Invoke(func(d purgerDeps) {
			for _, j := range newPurger(d).jobs {
				out = append(out, j.name)
			}
		}))...)
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"mail outbox", "one-time tokens"}) {
		t.Fatalf("without a session store: jobs %v", got)
	}
	other := fx.Provide(func() ports.SessionStore { return otherSessions{} })
	if got := names(other); !slices.Equal(got, []string{"mail outbox", "one-time tokens"}) {
		t.Fatalf("with another package's session store: jobs %v", got)
	}
	if got := names(SessionsModule); !slices.Equal(got, []string{"mail outbox", "one-time tokens", "sessions"}) {
		t.Fatalf("with the SQL session store: jobs %v", got)
	}
}

// otherSessions stands for a session store of another package (Redis).
type otherSessions struct{ ports.SessionStore }

func TestPurgerRunsInTheBackgroundUntilStop(t *testing.T) {
	db := openTest(t, SQLite)
	sessions, tokens := NewSessions(db), NewOneTimeTokens(db)
	now := time.Now().UTC()
	dead := newSession("s-dead", now.Add(-48*time.Hour))
	dead.IdleExpiresAt = now.Add(-time.Hour)
	live := newSession("s-live", now)
	for _, s := range []domain.Session{dead, live} {
		if err := sessions.Create(t.Context(), s, now); err != nil {
			t.Fatal(err)
		}
	}
	tok := domain.OneTimeToken{Hash: hash("ott"), UserID: "user-1", Purpose: domain.PurposeVerifyEmail,
		CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	if err := tokens.Create(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := db.bun.NewRaw("SELECT COUNT(*) FROM "+table).Scan(t.Context(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var logs bytes.Buffer
	var mu sync.Mutex
	failing := purgeJob{"failing", func(context.Context, time.Time) (int, error) { return 0, errors.New("boom") }}
	var runs atomic.Int64
	counting := purgeJob{"counting", func(context.Context, time.Time) (int, error) { runs.Add(1); return 0, nil }}
	p := newPurger(purgerDeps{Jobs: []purgeJob{{"one-time tokens", tokens.PurgeExpired}, {"sessions", sessions.PurgeExpired}},
		Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))})
	p.every = 10 * time.Millisecond
	p.jobs = append(p.jobs, failing, counting)
	lc := fxtest.NewLifecycle(t)
	p.hook(lc)
	lc.RequireStart()

	deadline := time.Now().Add(5 * time.Second)
	for count("sessions") != 1 || count("one_time_tokens") != 0 || runs.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %d sessions, %d tokens, %d runs", count("sessions"), count("one_time_tokens"), runs.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := sessions.Get(t.Context(), live.ID, time.Now()); err != nil {
		t.Fatalf("live session purged: %v", err)
	}
	lc.RequireStop()
	stopped := runs.Load()
	time.Sleep(50 * time.Millisecond)
	if runs.Load() != stopped {
		t.Fatal("the purge kept running after stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "store=failing") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("a failed purge was not logged: %q", logs.String())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
