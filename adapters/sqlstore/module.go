package sqlstore

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/ports"
	"go.uber.org/fx"
)

// Config is what the composition root tells the module: where the database is, whether to
// migrate it at start, and how to size the pool.
type Config struct {
	// URL is PORTCULLIS_DATABASE_URL: sqlite://PATH, a file path, mysql://... or postgres://...
	URL string
	// AutoMigrate applies pending migrations at start. When false, start fails unless the schema
	// is exactly the one this binary expects.
	AutoMigrate bool
	// Options sizes the pool; zero fields take their defaults.
	Options Options
}

// Module provides *DB (opened from Config, checked and migrated at start, closed at stop),
// ports.UserStore, ports.UserDirectory, ports.KeyStore, ports.AuditLog and
// ports.OneTimeTokens. cmd/portcullis must provide a Config.
var Module = fx.Module("sqlstore",
	fx.Provide(
		New,
		fx.Annotate(NewUsers, fx.As(new(ports.UserStore))),
		fx.Annotate(NewKeys, fx.As(new(ports.KeyStore))),
		fx.Annotate(NewDirectory, fx.As(new(ports.UserDirectory))),
		fx.Annotate(NewAuditLog, fx.As(new(ports.AuditLog))),
		fx.Annotate(NewOneTimeTokens, fx.As(new(ports.OneTimeTokens))),
	),
)

// SessionsModule provides ports.SessionStore on the database of Module, for
// PORTCULLIS_SESSION_STORE=sql. It needs Module (for *DB).
var SessionsModule = fx.Module("sqlstore-sessions",
	fx.Provide(fx.Annotate(NewSessions, fx.As(new(ports.SessionStore)))),
)

// New is the fx constructor of *DB. It builds the pool without touching the network; at start
// it checks the database answers, then migrates it (AutoMigrate) or checks that its schema
// matches this binary, so that a bad URL, a down server or a schema newer than the binary stops
// start-up with a clear message. The pool is closed at stop.
func New(lc fx.Lifecycle, cfg Config) (*DB, error) {
	db, err := openDB(cfg.URL, cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("PORTCULLIS_DATABASE_URL: %w", err)
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			err := db.start(ctx, cfg)
			if err != nil {
				// fx runs OnStop only for hooks whose OnStart succeeded.
				_ = db.Close()
			}
			return err
		},
		OnStop: func(context.Context) error { return db.Close() },
	})
	return db, nil
}

func (db *DB) start(ctx context.Context, cfg Config) error {
	err := db.Ping(ctx)
	if err != nil && cfg.AutoMigrate && isUnknownDatabase(err) {
		// The server answers but has no such database: make it, then migrate into it.
		if err = createDatabase(ctx, cfg.URL, cfg.Options); err == nil {
			err = db.Ping(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("connect to the %s database %s: %w", db.kind, redact(cfg.URL), err)
	}
	if cfg.AutoMigrate {
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate the %s database: %w", db.kind, err)
		}
		return nil
	}
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("check the %s database schema: %w", db.kind, err)
	}
	return nil
}
