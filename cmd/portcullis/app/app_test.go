package app_test

import (
	"io"
	"log/slog"
	"testing"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/ports"
)

// TestGraphWiresForEveryConfiguration proves the fx graph is complete for each choice of
// session store and signing setup, without opening anything.
func TestGraphWiresForEveryConfiguration(t *testing.T) {
	cases := map[string][]string{
		"defaults":        nil,
		"memory sessions": {"PORTCULLIS_SESSION_STORE=memory"},
		"redis sessions":  {"PORTCULLIS_SESSION_STORE=redis://127.0.0.1:6379/0"},
		"redis cluster":   {"PORTCULLIS_SESSION_STORE=redis+cluster://127.0.0.1:7001,127.0.0.1:7002"},
		"redis sentinel":  {"PORTCULLIS_SESSION_STORE=redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster"},
		"mysql":           {"PORTCULLIS_DATABASE_URL=mysql://root@127.0.0.1:3306/portcullis"},
		"postgres":        {"PORTCULLIS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portcullis"},
		"hs256":           {"PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
		"es256":           {"PORTCULLIS_JWT_ALG=ES256"},
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.LoadFrom(append(env, "PORTCULLIS_DATA_DIR="+t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.ValidateApp(app.Options(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRateLimiterFollowsTheSessionStore: every configuration provides a rate limiter.
func TestRateLimiterFollowsTheSessionStore(t *testing.T) {
	for _, store := range []string{"sql", "memory", "redis://127.0.0.1:6379/0"} {
		cfg, err := config.LoadFrom([]string{"PORTCULLIS_SESSION_STORE=" + store, "PORTCULLIS_DATA_DIR=" + t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		opts := fx.Options(app.Options(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))), fx.Invoke(func(ports.RateLimiter) {}))
		if err := fx.ValidateApp(opts); err != nil {
			t.Fatalf("%s: %v", store, err)
		}
	}
}
