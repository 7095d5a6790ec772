package sqlstore

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"go.uber.org/fx"
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
