package sqlstore

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

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
	// Setting names, in start errors, the variable the user fixes: PORTCULLIS_DATABASE_URL, or
	// PORTCULLIS_DATA_DIR when the database is the default one in the data directory. Empty:
	// errors name none.
	Setting string
	// Log, when set, is told what start did to the schema (created, or migrated from one
	// version to another).
	Log *slog.Logger
}

// Module provides *DB (opened from Config, checked and migrated at start, closed at stop),
// ports.UserStore, ports.UserDirectory, ports.KeyStore, ports.AuditLog,
// ports.OneTimeTokens and ports.MailOutbox, and the database's readiness check (a ports.Pinger
// named "database" in the value group "readiness", what /readyz reports on). cmd/portcullis
// must provide a Config. Once started,
// it deletes expired rows every purgeEvery in the background (see startPurger): one-time
// tokens, settled mail older than mailRetention, and sessions when SessionsModule is in the
// graph too (each module adds its own purge job).
var Module = fx.Module("sqlstore",
	fx.Provide(
		New,
		fx.Annotate(func(db *DB) ports.Pinger { return db }, fx.ResultTags(`group:"readiness"`)),
		provideUsers,
		fx.Annotate(NewKeys, fx.As(new(ports.KeyStore))),
		fx.Annotate(NewDirectory, fx.As(new(ports.UserDirectory))),
		fx.Annotate(NewAuditLog, fx.As(new(ports.AuditLog))),
		fx.Annotate(NewOneTimeTokens, fx.As(new(ports.OneTimeTokens))),
		fx.Annotate(NewOutbox, fx.As(new(ports.MailOutbox))),
		purgeJobOf("one-time tokens", func(db *DB) purgeFunc { return NewOneTimeTokens(db).PurgeExpired }),
		purgeJobOf("mail outbox", func(db *DB) purgeFunc {
			o := NewOutbox(db)
			return func(ctx context.Context, now time.Time) (int, error) { return o.Purge(ctx, now.Add(-mailRetention)) }
		}),
		fx.Annotate(NewTOTPFactors, fx.As(new(ports.TOTPFactors))),
		fx.Annotate(NewRecoveryCodes, fx.As(new(ports.RecoveryCodes))),
		fx.Annotate(NewPasskeys, fx.As(new(ports.Passkeys))),
	),
	fx.Invoke(startPurger),
)

// SessionsModule provides ports.SessionStore on the database of Module, for
// PORTCULLIS_SESSION_STORE=sql. It needs Module (for *DB).
var SessionsModule = fx.Module("sqlstore-sessions",
	fx.Provide(
		fx.Annotate(NewSessions, fx.As(new(ports.SessionStore))),
		purgeJobOf("sessions", func(db *DB) purgeFunc { return NewSessions(db).PurgeExpired }),
	),
)

// purgeGroup is the fx value group the modules of this package put their purge jobs in.
const purgeGroup = `group:"sqlstore.purge"`

// purgeJobOf provides, into purgeGroup, the purge job called name whose function purge makes
// from the database.
func purgeJobOf(name string, purge func(*DB) purgeFunc) any {
	return fx.Annotate(func(db *DB) purgeJob { return purgeJob{name, purge(db)} }, fx.ResultTags(purgeGroup))
}

// ChallengesModule provides ports.Challenges on the database of Module, beside SessionsModule
// (short-lived state lives where the sessions do). It needs Module (for *DB).
var ChallengesModule = fx.Module("sqlstore-challenges",
	fx.Provide(
		fx.Annotate(NewChallenges, fx.As(new(ports.Challenges))),
		purgeJobOf("challenges", func(db *DB) purgeFunc { return NewChallenges(db).PurgeExpired }),
	),
)

// New is the fx constructor of *DB. It builds the pool without touching the network; at start
// it checks the database answers, then migrates it (AutoMigrate) or checks that its schema
// matches this binary, so that a bad URL, a down server or a schema newer than the binary stops
// start-up with a clear message. The pool is closed at stop.
func New(lc fx.Lifecycle, cfg Config) (*DB, error) {
	useLogger(cfg.Log)
	db, err := openDB(cfg.URL, cfg.Options)
	if err != nil {
		return nil, cfg.named(err)
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			err := db.start(ctx, cfg)
			if err != nil {
				err = cfg.named(err)
				// fx runs OnStop only for hooks whose OnStart succeeded.
				_ = db.Close()
			}
			return err
		},
		OnStop: func(context.Context) error { return db.Close() },
	})
	return db, nil
}

// named puts the variable of cfg.Setting in front of err.
func (cfg Config) named(err error) error {
	if cfg.Setting == "" {
		return err
	}
	return fmt.Errorf("%s: %w", cfg.Setting, err)
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
		// No URL in the message (it may hold a password): the caller names the setting.
		return fmt.Errorf("connect to the %s database: %w", db.kind, err)
	}
	if cfg.AutoMigrate {
		from := db.schemaVersion(ctx)
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate the %s database: %w", db.kind, err)
		}
		if cfg.Log != nil {
			switch to := db.schemaVersion(ctx); {
			case from == "":
				cfg.Log.InfoContext(ctx, "database schema created", "database", string(db.kind), "version", to)
			case from != to:
				cfg.Log.InfoContext(ctx, "database schema migrated", "database", string(db.kind), "from", from, "to", to)
			default:
				cfg.Log.DebugContext(ctx, "database schema up to date", "database", string(db.kind), "version", to)
			}
		}
		return nil
	}
	if err := db.CheckSchema(ctx); err != nil {
		return fmt.Errorf("check the %s database schema: %w", db.kind, err)
	}
	return nil
}

// mailRetention is how long sent and dropped messages stay in the outbox (for `portcullis mail
// list`) before the purge deletes them. Failed ones stay until an operator retries them.
const mailRetention = 7 * 24 * time.Hour

// purgeEvery spaces the background purges of expired sessions and one-time tokens;
// purgeTimeout bounds one purge.
const (
	purgeEvery   = time.Minute
	purgeTimeout = 10 * time.Second
)

// purgerDeps is what the background purge needs: the jobs the modules of this package put in
// the graph (none of another package's stores: a Redis session store expires by itself). The
// logger is optional.
type purgerDeps struct {
	fx.In
	Lifecycle fx.Lifecycle
	Jobs      []purgeJob   `group:"sqlstore.purge"`
	Log       *slog.Logger `optional:"true"`
}

// purger deletes expired rows every purgeEvery, off any request's context.
type purger struct {
	every, timeout time.Duration
	now            func() time.Time
	log            *slog.Logger
	jobs           []purgeJob
}

// purgeFunc deletes the rows expired at now and says how many.
type purgeFunc func(ctx context.Context, now time.Time) (int, error)

// purgeJob is one store's purge.
type purgeJob struct {
	name  string
	purge purgeFunc
}

// startPurger adds to the lifecycle a purger of the expired rows of this package's stores: the
// goroutine starts once the database is up and migrated (New's hook runs first) and is stopped,
// and waited for, before the database closes (hooks stop in reverse order).
func startPurger(d purgerDeps) {
	if p := newPurger(d); len(p.jobs) > 0 {
		p.hook(d.Lifecycle)
	}
}

// newPurger is the purger of the jobs in d, in the order of their names (a value group has
// none of its own).
func newPurger(d purgerDeps) *purger {
	p := &purger{every: purgeEvery, timeout: purgeTimeout, now: time.Now, log: d.Log, jobs: slices.Clone(d.Jobs)}
	slices.SortFunc(p.jobs, func(a, b purgeJob) int { return strings.Compare(a.name, b.name) })
	return p
}

// hook runs p from lc's start to its stop.
func (p *purger) hook(lc fx.Lifecycle) {
	var (
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			wg.Go(func() { p.run(stop) })
			return nil
		},
		OnStop: func(ctx context.Context) error {
			close(stop)
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("stop the expired-row purge: %w", ctx.Err())
			}
		},
	})
}

// run purges every p.every until stop is closed. A purge in progress when stop closes is
// cancelled.
func (p *purger) run(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.purgeOnce(ctx)
		}
	}
}

// purgeOnce runs every job once, each under its own timeout, logging failures.
func (p *purger) purgeOnce(ctx context.Context) {
	for _, j := range p.jobs {
		jctx, cancel := context.WithTimeout(ctx, p.timeout)
		n, err := j.purge(jctx, p.now())
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return // stopping
		case err != nil:
			if p.log != nil {
				p.log.Warn("purge of expired rows failed; retried at the next tick",
					"store", j.name, "error", err)
			}
		case n > 0 && p.log != nil:
			p.log.Debug("purged expired rows", "store", j.name, "rows", n)
		}
	}
}

// UserWrap, when the graph provides one, wraps the user store of db before anything else sees
// it: the composition root puts a cache in front of SQLite's users this way (a root-level
// decoration of ports.UserStore belongs to telemetry, and fx allows one per type).
type UserWrap func(db *DB, users ports.UserStore) ports.UserStore

type usersIn struct {
	fx.In
	DB   *DB
	Wrap UserWrap `optional:"true"`
}

func provideUsers(in usersIn) ports.UserStore {
	var users ports.UserStore = NewUsers(in.DB)
	if in.Wrap != nil {
		users = in.Wrap(in.DB, users)
	}
	return users
}
