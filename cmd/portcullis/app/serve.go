package app

// Running the service as a process: Serve, and what it sets up around the fx graph (logger,
// memory limit, the start-up line) and the configuration listing.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"go.uber.org/fx"
	"golang.org/x/term"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/config"
)

// Serve loads the configuration from the environment and runs the service until SIGINT or
// SIGTERM, then drains in-flight requests and closes the stores last. A failed start is one
// line naming the variable to fix (startError), returned, never logged as well.
func Serve(ctx context.Context) error {
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	log := NewLogger(cfg, os.Stderr)
	if limit := MemoryLimit(cfg, runtime.NumCPU(), os.Getenv("GOMEMLIMIT") != ""); limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	routeStandardLog(log)
	var srv *httpapi.Server
	app := fx.New(Options(cfg, log), fx.Populate(&srv),
		fx.StartTimeout(30*time.Second), fx.StopTimeout(cfg.ShutdownTimeout+5*time.Second))
	if err := app.Err(); err != nil {
		return startError(cfg, err)
	}
	// Receive SIGINT and SIGTERM before the start hooks run, not after them: the listener is up
	// (and /readyz answers) before the last hook returns, and a signal in that window would
	// otherwise take the default action, an exit with no drain. It now waits for the start to
	// finish and stops the service as any other.
	stopped := app.Wait()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return startError(cfg, err)
	}
	if cfg.ReleaseStartPages {
		releaseStartPages(log)
	}
	dbKind, _ := sqlstore.KindOf(cfg.DatabaseURL)
	log.Info("portcullis started", "url", listenURL(srv), "public_url", cfg.PublicURL,
		"database", dbKind, "database_url", config.RedactURL(cfg.DatabaseURL), "sessions", sessionKind(cfg.SessionStore),
		"alg", cfg.JWTAlg, "strict", cfg.StrictSessions, "version", BuildVersion().Module)
	sig := <-stopped
	log.Info("portcullis stopping", "signal", sig.Signal.String())
	stopCtx, cancelStop := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+5*time.Second)
	defer cancelStop()
	return app.Stop(stopCtx)
}

// releaseStartPages gives the executable's pages resident after start-up back to the kernel
// (system.ReleaseStartPages) and logs what that did, at debug: most of them are package
// initialisation and wiring that serving never runs again. A failure costs only that memory.
func releaseStartPages(log *slog.Logger) {
	sp, err := system.ReleaseStartPages()
	if err != nil {
		log.Debug("start-up pages kept", "error", err)
		return
	}
	log.Debug("start-up pages given back", "rss_file_before_kb", sp.Before>>10, "rss_file_after_kb", sp.After>>10,
		"mappings", sp.Mappings)
}

// routeStandardLog makes log the default logger, so that libraries writing with the standard
// log package (Bun's MySQL dialect does, e.g. when it cannot discover the server's version)
// log through the same handler as one structured line, at debug: their business, not the
// operator's.
func routeStandardLog(log *slog.Logger) {
	slog.SetDefault(log)
	slog.SetLogLoggerLevel(slog.LevelDebug)
}

// listenURL is where the started server answers, from its listener.
func listenURL(srv *httpapi.Server) string {
	if srv == nil || srv.Addr() == nil {
		return ""
	}
	return httpapi.ListenURL(srv.Addr())
}

// sessionKind names the session store of PORTCULLIS_SESSION_STORE for the log: sql, memory,
// redis, redis+cluster or redis+sentinel (TLS or not).
func sessionKind(s string) string {
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		return scheme
	}
	return s
}

// MemoryLimit is the soft memory limit Serve gives the Go runtime, in bytes, or 0 for none: the
// configured PORTCULLIS_MEMORY_LIMIT_MIB, else 24 MiB plus one argon2id working set per hashing
// slot (one per core), and at least 32 MiB. The password hasher keeps one working set per slot
// from hash to hash (adapters/password, idKey), so under login load the heap holds those and a
// few MB more, and the limit keeps the collector from letting the rest grow to as much again
// before it runs. A GOMEMLIMIT in the environment (goEnv) is the runtime's own and wins.
func MemoryLimit(cfg config.Config, cores int, goEnv bool) int64 {
	const mib = 1 << 20
	switch {
	case goEnv || cfg.MemoryLimitMiB < 0:
		return 0
	case cfg.MemoryLimitMiB > 0:
		return int64(cfg.MemoryLimitMiB) * mib
	}
	if cfg.PasswordHash == "bcrypt" {
		return 32 * mib
	}
	return max(32*mib, 24*mib+int64(cfg.Argon2Memory)*1024*int64(cores))
}

// NewLogger builds the process logger from the configuration, writing to w.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return system.NewLogger(cfg.LogLevel, cfg.LogFormat, w, tty)
}

// ConfigTable renders every setting of cfg: its effective value (secrets masked) beside its
// default, and what it is for.
func ConfigTable(cfg config.Config) string {
	var b strings.Builder
	for _, e := range cfg.Entries() {
		val, def, help := e.Value, e.Default, e.Help
		if val == "" {
			val = "(unset)"
		}
		if def == "" {
			def = "(unset)"
			// A default derived from other settings is stated in the help: "(default: ...)".
			if h, d, ok := strings.Cut(e.Help, " (default: "); ok {
				help, def = h, strings.TrimSuffix(d, ")")
			}
		}
		fmt.Fprintf(&b, "%s=%s\n    default: %s\n    %s\n", e.Name, val, def, help)
	}
	return b.String()
}
