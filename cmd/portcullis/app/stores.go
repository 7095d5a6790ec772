package app

// The session store named by PORTCULLIS_SESSION_STORE, with what follows it (rate limiter,
// challenges), and the caches in front of the session and user stores, with the telemetry
// observer placed next to the real store.

import (
	"context"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sessioncache"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/usercache"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/ports"
)

// sessionStore picks the session store adapter named by PORTCULLIS_SESSION_STORE, and the rate
// limiter and challenge store that follow it: Redis counts across instances, otherwise each
// process counts alone; challenges (mfa_token, WebAuthn ceremonies) live where sessions do.
func sessionStore(cfg config.Config) fx.Option {
	switch s := cfg.SessionStore; {
	case s == "memory":
		return fx.Options(observeSessions(), memstore.Module, memstore.LimiterModule, memstore.ChallengesModule)
	case sharedLimits(cfg):
		return fx.Options(
			redisSessionCache(cfg),
			redisstore.Module,
			redisstore.LimiterModule,
			fx.Supply(redisConfig(cfg)),
		)
	default:
		return fx.Options(sqlSessionCache(cfg), sqlstore.SessionsModule, sqlstore.ChallengesModule, memstore.LimiterModule)
	}
}

// sharedLimits reports whether the session store is Redis, whose rate limiter every process
// shares; with the sql and memory session stores each process counts in its own memory.
func sharedLimits(cfg config.Config) bool {
	_, err := redisstore.KindOf(cfg.SessionStore)
	return err == nil
}

func redisConfig(cfg config.Config) redisstore.Config {
	return redisstore.Config{URL: cfg.SessionStore, Prefix: cfg.RedisKeyPrefix, Options: redisstore.Options{
		PoolSize: cfg.RedisPoolSize, DialTimeout: cfg.RedisDialTimeout, ReadTimeout: cfg.RedisReadTimeout,
		WriteTimeout: cfg.RedisWriteTimeout, TLSCAFile: cfg.RedisTLSCAFile,
	}, WaitReplicas: cfg.RedisWaitReplicas, WaitTimeout: cfg.RedisWaitTimeout, Setting: config.Prefix + "SESSION_STORE"}
}

// dataVersion is SQLite's PRAGMA data_version source, shared by the session and user caches so
// that their concurrent questions share queries (sqlstore.DataVersion); nil on MySQL and
// PostgreSQL.
type dataVersion struct{ *sqlstore.DataVersion }

func provideDataVersion(lc fx.Lifecycle, db *sqlstore.DB) dataVersion {
	ver, ok := sqlstore.NewDataVersion(db)
	if !ok {
		return dataVersion{}
	}
	lc.Append(fx.StopHook(ver.Close))
	return dataVersion{ver}
}

// userCache puts a usercache in front of SQL users on SQLite (data_version, as for sessions) and
// on PostgreSQL (the users table's triggers NOTIFY every change: sqlstore.Changes); MySQL keeps
// none.
func userCache(cfg config.Config) fx.Option {
	if cfg.UserCacheSize == 0 {
		return fx.Options()
	}
	return fx.Provide(func(lc fx.Lifecycle, ver dataVersion, log *slog.Logger) (sqlstore.UserWrap, error) {
		return func(db *sqlstore.DB, users ports.UserStore) ports.UserStore {
			var (
				source usercache.Versioner // SQLite; nil (the interface) elsewhere
				feed   *sqlstore.Changes   // PostgreSQL
			)
			if ver.DataVersion != nil {
				source = ver.DataVersion
			} else if f, ok := sqlstore.NewChanges(db, sqlstore.UserChanges, log); ok {
				feed = f
			} else {
				return users
			}
			cache, err := usercache.New(users, cfg.UserCacheSize, source)
			if err != nil { // only for a size otter refuses, which config.Load already did
				return users
			}
			if feed != nil {
				startFeed(lc, cache.Start, feed)
			}
			return cache
		}, nil
	})
}

// redisSessionCache puts a sessioncache in front of a standalone Redis session store (redis://,
// rediss://), invalidated by Redis client tracking and answering only behind a read barrier
// (redisstore.Changes). Cluster and Sentinel keep no cache.
func redisSessionCache(cfg config.Config) fx.Option {
	kind, err := redisstore.KindOf(cfg.SessionStore)
	standalone := err == nil && kind.Topology == redisstore.Standalone
	if cfg.SessionCacheSize == 0 || !standalone {
		return observeSessions()
	}
	return fx.Decorate(func(lc fx.Lifecycle, in observedSessions, client redis.UniversalClient, rcfg redisstore.Config,
		log *slog.Logger) (ports.SessionStore, error) {
		inner := in.store()
		feed, ok := redisstore.NewChanges(client, rcfg.Prefix, log)
		if !ok {
			return inner, nil
		}
		return fedSessionCache(lc, inner, cfg.SessionCacheSize, feed)
	})
}

// sqlSessionCache puts a sessioncache in front of SQL sessions on SQLite, where PRAGMA
// data_version sees every commit by any connection (sqlstore.DataVersion), and on PostgreSQL,
// where the sessions table's triggers NOTIFY every change and a query on the listening
// connection is the read barrier (sqlstore.Changes). MySQL keeps no cache.
func sqlSessionCache(cfg config.Config) fx.Option {
	if cfg.SessionCacheSize == 0 {
		return observeSessions()
	}
	return fx.Decorate(func(lc fx.Lifecycle, in observedSessions, ver dataVersion, db *sqlstore.DB,
		log *slog.Logger) (ports.SessionStore, error) {
		inner := in.store()
		if ver.DataVersion != nil {
			return sessioncache.New(inner, cfg.SessionCacheSize, ver.DataVersion)
		}
		if feed, ok := sqlstore.NewChanges(db, sqlstore.SessionChanges, log); ok {
			return fedSessionCache(lc, inner, cfg.SessionCacheSize, feed)
		}
		return inner, nil
	})
}

// fedSessionCache is a sessioncache over inner that answers only while feed is live, the feed
// running from the application's start to its stop.
func fedSessionCache(lc fx.Lifecycle, inner ports.SessionStore, size int, feed sessioncache.Feed) (ports.SessionStore, error) {
	cache, err := sessioncache.New(inner, size, nil)
	if err != nil {
		return nil, err
	}
	startFeed(lc, cache.Start, feed)
	return cache, nil
}

// startFeed runs a cache's feed from the application's start to its stop.
func startFeed(lc fx.Lifecycle, start func(context.Context, sessioncache.Feed) (wait func()), feed sessioncache.Feed) {
	ctx, cancel := context.WithCancel(context.Background())
	var wait func()
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { wait = start(ctx, feed); return nil },
		OnStop:  func(context.Context) error { cancel(); wait(); return nil },
	})
}

// SessionObserver wraps the session store in the telemetry adapter's metrics and spans.
// Telemetry provides it; the operator commands (Core alone) have none. The session store has
// one decorator per configuration (a cache may also wrap it), and the observer goes inside it,
// next to the real store, so store latency is the store's.
type SessionObserver func(ports.SessionStore) ports.SessionStore

// observedSessions is the session store as provided, with the observer if there is one.
type observedSessions struct {
	fx.In
	Inner   ports.SessionStore
	Observe SessionObserver `optional:"true"`
}

func (o observedSessions) store() ports.SessionStore {
	if o.Observe == nil {
		return o.Inner
	}
	return o.Observe(o.Inner)
}

// observeSessions is the session store's decorator when no cache wraps it.
func observeSessions() fx.Option {
	return fx.Decorate(func(in observedSessions) ports.SessionStore { return in.store() })
}
