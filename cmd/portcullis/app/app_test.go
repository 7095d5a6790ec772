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
			cfg, err := config.LoadFrom(append(env, "PORTCULLIS_DATA_DIR="+t.TempDir()), app.Parsers)
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
		cfg, err := config.LoadFrom([]string{"PORTCULLIS_SESSION_STORE=" + store, "PORTCULLIS_DATA_DIR=" + t.TempDir()}, app.Parsers)
		if err != nil {
			t.Fatal(err)
		}
		opts := fx.Options(app.Options(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))), fx.Invoke(func(ports.RateLimiter) {}))
		if err := fx.ValidateApp(opts); err != nil {
			t.Fatalf("%s: %v", store, err)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	base := config.Config{PasswordHash: "argon2id", Argon2Memory: 19456}
	for _, c := range []struct {
		name  string
		cfg   func(config.Config) config.Config
		cores int
		goEnv bool
		want  int64
	}{
		{"automatic, 2 cores", func(c config.Config) config.Config { return c }, 2, false, 24*mib + 2*19456*1024},
		{"automatic, 8 cores, 64 MiB per hash", func(c config.Config) config.Config { c.Argon2Memory = 65536; return c }, 8, false, 24*mib + 8*64*mib},
		{"automatic, bcrypt", func(c config.Config) config.Config { c.PasswordHash = "bcrypt"; return c }, 2, false, 32 * mib},
		{"configured", func(c config.Config) config.Config { c.MemoryLimitMiB = 200; return c }, 2, false, 200 * mib},
		{"off", func(c config.Config) config.Config { c.MemoryLimitMiB = -1; return c }, 2, false, 0},
		{"GOMEMLIMIT wins", func(c config.Config) config.Config { c.MemoryLimitMiB = 200; return c }, 2, true, 0},
	} {
		if got := app.MemoryLimit(c.cfg(base), c.cores, c.goEnv); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
