package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver

	"github.com/portcullis-auth/portcullis/adapters/internal/urlerr"
)

// Kind names a supported database engine.
type Kind string

// The supported engines.
const (
	SQLite   Kind = "sqlite"
	MySQL    Kind = "mysql"
	Postgres Kind = "postgres"
)

// Options tunes the connection pool and start-up. A zero field takes the default named on it;
// the settings config has a default for (DB_CONNECT_TIMEOUT) have none here, cmd/portcullis
// passes config's value.
type Options struct {
	// MaxOpenConns caps open connections (default: DefaultMaxOpenConnsSQLite for SQLite,
	// DefaultMaxOpenConns otherwise).
	MaxOpenConns int
	// MaxIdleConns caps idle connections kept for reuse (default: MaxOpenConns).
	MaxIdleConns int
	// ConnMaxLifetime closes connections older than this (default: DefaultConnMaxLifetime;
	// SQLite: never).
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for this long (default: 5m; SQLite: never).
	ConnMaxIdleTime time.Duration
	// ConnectTimeout bounds dialling a MySQL or PostgreSQL server (0: no bound of ours, the
	// driver's or the URL's; cmd/portcullis passes PORTCULLIS_DB_CONNECT_TIMEOUT).
	ConnectTimeout time.Duration
	// MigrationLockTimeout is how long Migrate waits for another instance's migration lock
	// before giving up (default: 60s).
	MigrationLockTimeout time.Duration
	// TLSCAFile is a PEM file of CA certificates to verify a MySQL or PostgreSQL server
	// against (see tls.go); "" uses the URL's own TLS parameters alone.
	TLSCAFile string
	// Renormalize runs the data step of the migration renormalize_identities (see
	// renormalize.go). Nil: that migration succeeds only on a database without users, and
	// fails with ErrRenormalizeNeeded otherwise (recording nothing).
	Renormalize RenormalizeFunc
}

// The pool's defaults by engine, for a zero Options field. config's help texts for
// PORTCULLIS_DB_MAX_OPEN_CONNS and PORTCULLIS_DB_CONN_MAX_LIFETIME state them (the default
// depends on the engine, so no envDefault tag can hold it); cmd/portcullis/app's
// TestConfigStatesSQLDefaults holds the two to each other.
const (
	DefaultMaxOpenConns = 20
	// DefaultMaxOpenConnsSQLite: one writer at a time anyway; a few connections let WAL readers
	// proceed.
	DefaultMaxOpenConnsSQLite = 4
	// DefaultConnMaxLifetime applies to MySQL and PostgreSQL; SQLite connections live for ever.
	DefaultConnMaxLifetime = 30 * time.Minute
)

func (o Options) withDefaults(kind Kind) Options {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
		if kind == SQLite {
			o.MaxOpenConns = DefaultMaxOpenConnsSQLite
		}
	}
	if o.MaxIdleConns <= 0 || o.MaxIdleConns > o.MaxOpenConns {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if kind != SQLite {
		if o.ConnMaxLifetime <= 0 {
			o.ConnMaxLifetime = DefaultConnMaxLifetime
		}
		if o.ConnMaxIdleTime <= 0 {
			o.ConnMaxIdleTime = 5 * time.Minute
		}
	}
	if o.MigrationLockTimeout <= 0 {
		o.MigrationLockTimeout = 60 * time.Second
	}
	return o
}

// DB is an open database with its dialect. It is safe for concurrent use and implements
// ports.Pinger as "database".
type DB struct {
	bun  *bun.DB
	kind Kind
	opts Options
	dsn  string // PostgreSQL only: for the connection that Changes keeps outside the pool
}

// Open connects to databaseURL and checks that the server answers. The scheme picks the engine:
// sqlite://PATH, file:PATH or a bare path (SQLite; the parent directory is created),
// mysql://user:pass@host:port/db?params, postgres:// or postgresql://. It does not migrate;
// call Migrate or CheckSchema next. An unreachable server is reported with domain.ErrUnavailable.
func Open(ctx context.Context, databaseURL string, opts Options) (*DB, error) {
	db, err := openDB(databaseURL, opts)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openDB builds the pool without touching the network.
func openDB(databaseURL string, opts Options) (*DB, error) {
	kind, err := kindOf(databaseURL)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults(kind)
	var (
		sqldb *sql.DB
		bdb   *bun.DB
		pgDSN string
	)
	switch kind {
	case SQLite:
		dsn, err := sqliteDSN(databaseURL)
		if err != nil {
			return nil, err
		}
		if sqldb, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		bdb = bun.NewDB(sqldb, sqlitedialect.New())
		if strings.Contains(dsn, ":memory:") {
			// Every connection to :memory: is a database of its own; keep exactly one.
			opts.MaxOpenConns, opts.MaxIdleConns = 1, 1
		}
	case MySQL:
		conn, _, err := mysqlConnector(databaseURL, opts)
		if err != nil {
			return nil, err
		}
		sqldb = sql.OpenDB(conn)
		bdb = bun.NewDB(sqldb, mysqldialect.New(mysqldialect.WithTimeLocation("UTC")))
	case Postgres:
		dsn, err := postgresDSN(databaseURL, opts.ConnectTimeout, opts.TLSCAFile)
		if err != nil {
			return nil, err
		}
		if sqldb, err = sql.Open("pgx", dsn); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		bdb, pgDSN = bun.NewDB(sqldb, pgdialect.New()), dsn
	}
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxIdleConns)
	sqldb.SetConnMaxLifetime(opts.ConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	return &DB{bun: bdb, kind: kind, opts: opts, dsn: pgDSN}, nil
}

// Kind reports the engine behind db.
func (db *DB) Kind() Kind { return db.kind }

// Bun returns the underlying Bun handle, for the command line and tests. Stores should be used
// through Users, Sessions and Keys.
func (db *DB) Bun() *bun.DB { return db.bun }

// Name is the readiness label of the database.
func (db *DB) Name() string { return "database" }

// Ping checks that the database answers; failures wrap domain.ErrUnavailable.
func (db *DB) Ping(ctx context.Context) error {
	err := db.bun.PingContext(ctx)
	// A new SQLite connection switches the file to WAL, which needs a moment of exclusive
	// access and answers SQLITE_BUSY at once, without the busy timeout, while another process
	// or connection holds the file (two instances starting together on a new database).
	for wait := 10 * time.Millisecond; err != nil && db.kind == SQLite && isSQLiteBusy(err) && wait < 3*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping %s: %w", db.kind, unavailable(ctx.Err()))
		case <-time.After(wait):
		}
		err = db.bun.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("ping %s: %w", db.kind, unavailable(err))
	}
	return nil
}

// Close closes every connection. Queries in flight fail.
func (db *DB) Close() error { return db.bun.Close() }

// KindOf names the engine of a database URL, the forms Open takes: sqlite://PATH, file:PATH or
// a bare path (SQLite), mysql://..., postgres://... or postgresql://.... It is the one reading of
// a URL's engine: config checks PORTCULLIS_DATABASE_URL with it (passed in by
// cmd/portcullis/app), so its errors are written to follow the variable's name.
func KindOf(databaseURL string) (Kind, error) {
	switch raw := databaseURL; {
	case strings.HasPrefix(raw, "sqlite://"), strings.HasPrefix(raw, "file:"):
		return SQLite, nil
	case strings.HasPrefix(raw, "mysql://"):
		return MySQL, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return Postgres, nil
	case raw == "":
		return "", errors.New("must not be empty")
	case strings.Contains(raw, "://"):
		scheme, _, _ := strings.Cut(raw, "://")
		return "", fmt.Errorf("unknown scheme %q: use sqlite://, mysql:// or postgres://", scheme)
	default:
		return SQLite, nil
	}
}

// kindOf is KindOf for Open and createDatabase, its errors saying what they are about.
func kindOf(databaseURL string) (Kind, error) {
	kind, err := KindOf(databaseURL)
	if err != nil {
		return "", fmt.Errorf("sqlstore: database URL: %w", err)
	}
	return kind, nil
}

// sqlitePragmas are applied on every new connection. _txlock=immediate makes BEGIN take the
// write lock at once, so a transaction never fails upgrading from reader to writer.
var sqlitePragmas = []string{
	"_pragma=busy_timeout(5000)",
	"_pragma=journal_mode(WAL)",
	"_pragma=foreign_keys(on)",
	"_pragma=synchronous(NORMAL)",
	"_txlock=immediate",
}

// sqliteDSN turns sqlite://PATH, file:PATH[?q] or PATH into a modernc DSN and creates the
// parent directory of PATH.
func sqliteDSN(raw string) (string, error) {
	path, query, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite://"), "file:"), "?")
	if path == "" {
		return "", fmt.Errorf("sqlstore: no file in SQLite URL %q", raw)
	}
	if path != ":memory:" && !strings.HasPrefix(path, ":memory:") {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return "", fmt.Errorf("create SQLite directory: %w", err)
			}
		}
		if err := createPrivate(path); err != nil {
			return "", err
		}
	}
	params := strings.Join(sqlitePragmas, "&")
	if query != "" {
		params = query + "&" + params
	}
	return "file:" + path + "?" + params, nil
}

// createPrivate creates the SQLite file path, readable by its owner only (0600), unless it
// exists. SQLite gives its -wal and -shm files the database file's mode, so they are private too,
// whatever the umask or the directory's mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create SQLite file: %w", err)
	}
	// The umask may have taken bits away, never added any; Chmod makes the mode exact.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("create SQLite file: %w", err)
	}
	return f.Close()
}

// mysqlConnector is the connector of a mysql:// URL, naming one server or several (see
// galera.go), with the TLS CA of opts; it also returns the driver config (of the first server).
func mysqlConnector(raw string, opts Options) (*failoverConnector, *mysql.Config, error) {
	cfg, hosts, err := mysqlConfigHosts(raw, opts.ConnectTimeout)
	if err != nil {
		return nil, nil, err
	}
	if opts.TLSCAFile != "" {
		if err := mysqlTLSWithCA(cfg, opts.TLSCAFile); err != nil {
			return nil, nil, err
		}
	}
	conn, err := newFailoverConnector(cfg, hosts)
	if err != nil {
		return nil, nil, err
	}
	return conn, cfg, nil
}

// mysqlConfig turns mysql://user:pass@host:port/db?params into a go-sql-driver config: UTC
// times parsed into time.Time, utf8mb4, no multi-statements, and found (not changed) rows
// reported as affected so that an UPDATE that writes identical values still counts as a match.
// With several servers (host1:port,host2:port) Addr is the first.
func mysqlConfig(raw string, timeout time.Duration) (*mysql.Config, error) {
	cfg, _, err := mysqlConfigHosts(raw, timeout)
	return cfg, err
}

// mysqlConfigHosts is mysqlConfig that also returns every server of the URL, in order.
func mysqlConfigHosts(raw string, timeout time.Duration) (*mysql.Config, []string, error) {
	// net/url refuses a comma-separated host list: parse the URL with the first host only.
	first, hosts, err := splitMySQLHosts(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore: invalid MySQL URL: %w", err)
	}
	u, err := url.Parse(first)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore: invalid MySQL URL: %w", urlerr.Scrub(err))
	}
	host := hosts[0]
	// Extra query parameters (tls=, timeout=, ...) are driver options; let the driver parse them.
	dsn := "tcp(" + host + ")/" + strings.TrimPrefix(u.Path, "/")
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlstore: invalid MySQL URL: %w", err)
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	cfg.ClientFoundRows = true
	cfg.Collation = "utf8mb4_unicode_ci"
	if cfg.Timeout == 0 {
		cfg.Timeout = timeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Times are written as UTC literals; keep the session in UTC so NOW() agrees with them.
	cfg.Params["time_zone"] = "'+00:00'"
	return cfg, hosts, nil
}

// splitMySQLHosts returns raw with only its first server, and every server of its host list.
func splitMySQLHosts(raw string) (string, []string, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostlist := "", authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostlist = authority[:at+1], authority[at+1:]
	}
	hosts, err := mysqlHosts(hostlist)
	if err != nil {
		return scheme + "://" + userinfo + "@", nil, err
	}
	first, _, _ := strings.Cut(hostlist, ",")
	return scheme + "://" + userinfo + first + tail, hosts, nil
}

// postgresDSN adds the connect timeout (if any) to a postgres:// URL unless it names one, and
// selects pgx's simple protocol: Bun interpolates every argument into the SQL text, so each
// query is one round trip, and texts that differ only in a timestamp do not churn pgx's
// statement cache.
func postgresDSN(raw string, timeout time.Duration, caFile string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("sqlstore: invalid PostgreSQL URL: %w", urlerr.Scrub(err))
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" && timeout > 0 {
		q.Set("connect_timeout", fmt.Sprint(max(1, int(timeout/time.Second))))
	}
	if q.Get("default_query_exec_mode") == "" {
		q.Set("default_query_exec_mode", "simple_protocol")
	}
	postgresTLSWithCA(q, caFile)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// conn is what a store of this package holds of its database: the pool, and its kind for the
// statements that differ by engine. Stores that need both embed it.
type conn struct {
	db   *bun.DB
	kind Kind
}

// connOf is the conn of db.
func connOf(db *DB) conn { return conn{db: db.bun, kind: db.kind} }
