package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// Config is what Module needs from the graph; cmd/portcullis provides it from
// PORTCULLIS_SESSION_STORE.
type Config struct {
	// URL is the Redis to use, in one of the forms Open documents.
	URL string
	// Prefix starts every key (no '{' or '}'); "" in a Redis of Portcullis's own.
	Prefix string
	// Options tune the pool and timeouts; zero fields keep the URL's or go-redis's defaults.
	Options
	// WaitReplicas and WaitTimeout, when WaitReplicas > 0, make session writes wait for that
	// many replicas (WaitForReplicas).
	WaitReplicas int
	WaitTimeout  time.Duration
	// Setting names, in the errors of building and starting the client, the variable the user
	// fixes (PORTCULLIS_SESSION_STORE); empty: none.
	Setting string
}

// named puts the variable of cfg.Setting in front of err.
func (cfg Config) named(err error) error {
	if err == nil || cfg.Setting == "" {
		return err
	}
	return fmt.Errorf("%s: %w", cfg.Setting, err)
}

// Module provides, from a Config in the graph:
//   - a redis.UniversalClient, pinged at fx start (so start-up fails fast when Redis is
//     unreachable) and closed at fx stop;
//   - *Sessions as ports.SessionStore;
//   - *Challenges as ports.Challenges;
//   - a ports.Pinger named "sessions" in the value group "readiness" (what /readyz reports on).
var Module = fx.Module("redisstore",
	fx.Provide(
		newModuleClient,
		fx.Annotate(newModuleSessions, fx.As(new(ports.SessionStore))),
		fx.Annotate(newModuleChallenges, fx.As(new(ports.Challenges))),
		fx.Annotate(NewPinger, fx.As(new(ports.Pinger)), fx.ResultTags(`group:"readiness"`)),
	),
)

// clientDeps is what the module's client needs; the logger is optional (go-redis's own
// messages go to the service log when there is one).
type clientDeps struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    Config
	Log       *slog.Logger `optional:"true"`
}

func newModuleClient(d clientDeps) (redis.UniversalClient, error) {
	lc, cfg := d.Lifecycle, d.Config
	useLogger(d.Log)
	c, err := NewClient(cfg.URL, cfg.Options)
	if err != nil {
		return nil, cfg.named(err)
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return cfg.named(ping(ctx, c)) },
		OnStop:  func(context.Context) error { return c.Close() },
	})
	return c, nil
}

func newModuleSessions(c redis.UniversalClient, cfg Config) (*Sessions, error) {
	return NewSessionsWith(c, cfg.Prefix, WaitForReplicas(cfg.WaitReplicas, cfg.WaitTimeout))
}

func newModuleChallenges(c redis.UniversalClient, cfg Config) (*Challenges, error) {
	return NewChallenges(c, cfg.Prefix)
}
