// Package app is Portcullis's composition root: it turns a validated config.Config into the fx
// graph of adapters and use cases, and runs it. It is the only place that knows which adapter
// implements which port.
package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"golang.org/x/term"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/mail"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sessioncache"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/adapters/telemetry"
	"github.com/portcullis-auth/portcullis/adapters/usercache"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/ports"
)

// Options returns the whole service graph for cfg, logging to log: Core plus the HTTP server.
// Tests build it with their own config and logger; Serve builds it from the environment.
func Options(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		Core(cfg, log),
		httpapi.Module,
		Bootstrap, // an httpapi.Prerequisite: the listener opens once the first admin exists
		mailWorker(cfg),
		fx.Supply(httpConfig(cfg)),
		fx.Provide(func(t *jwxtoken.Tokens) httpapi.KeySet { return t }),
		Telemetry(cfg),
	)
}

// Telemetry is metrics and traces: the telemetry adapter's decorators of every store and the
// hasher, its metrics handler and tracer for the HTTP server. PORTCULLIS_TELEMETRY=off leaves
// it all out: the HTTP server then records nothing and the stores are undecorated.
func Telemetry(cfg config.Config) fx.Option {
	if cfg.Telemetry == "off" {
		return fx.Options()
	}
	v := BuildVersion()
	return fx.Options(
		telemetry.Module,
		fx.Supply(telemetry.Config{MetricsAddr: cfg.MetricsAddr, OTLPEndpoint: cfg.OTLPEndpoint,
			Build: telemetry.Build{Version: v.Module, Commit: v.Commit}}),
		fx.Provide(
			func(t *jwxtoken.Tokens) telemetry.KeyAge { return t.SigningKeyAge },
			func(h *telemetry.HTTP) httpapi.Telemetry { return h },
			func(m *telemetry.Metrics, t *telemetry.Tracing) SessionObserver {
				return func(s ports.SessionStore) ports.SessionStore { return telemetry.ObserveSessions(s, m, t) }
			},
		),
		fx.Invoke(func(h *password.Hasher, m *telemetry.Metrics) { h.SetTimings(m.ObserveHash) }),
	)
}

// Core is everything but the HTTP server: stores, token keys, hashing, mail and the use cases.
// The operator commands run on it.
func Core(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger {
			// fx's account of the graph is for whoever debugs the wiring: its errors too, since
			// the command that failed prints the cause once (startError).
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			l.UseErrorLevel(slog.LevelDebug)
			return l
		}),
		system.Module,
		mailer(cfg),
		fx.Supply(mailSettings(cfg)),
		password.Module,
		fx.Supply(password.Params{Algorithm: cfg.PasswordHash, Memory: cfg.Argon2Memory, Time: cfg.Argon2Time,
			Threads: cfg.Argon2Threads, BcryptCost: cfg.BcryptCost, Queue: cfg.PasswordQueue}),
		sqlstore.Module,
		fx.Supply(sqlConfig(cfg, log)),
		fx.Provide(provideDataVersion),
		userCache(cfg),
		sessionStore(cfg),
		jwxtoken.Module,
		fx.Provide(func() (jwxtoken.Config, error) { return tokenConfig(cfg, log) }),
		fx.Supply(settings(cfg), limits(cfg)),
		otp.Module,
		identity.Module,
		passkey.Module,
		fx.Supply(passkey.Config{RPID: cfg.PasskeyRPID, Origins: cfg.PasskeyOrigins, Name: cfg.ProductName}),
		fx.Invoke(func(w ports.WebAuthn) {
			if off, ok := w.(interface{ Off() bool }); ok && off.Off() {
				log.Warn("passkeys are off: the relying-party id is an IP address; set PORTCULLIS_PUBLIC_URL with a host name "+
					"(or PORTCULLIS_PASSKEY_RP_ID) to use them", "rp_id", cfg.PasskeyRPID)
			}
		}),
		fx.Provide(func() (ports.SecretBox, error) {
			kek, err := keyEncryptionKey(cfg, log)
			if err != nil {
				return nil, err
			}
			return jwxtoken.NewSecretBox(kek)
		}),
		fx.Provide(
			application.NewAuditor,
			application.NewAuditTrail,
			application.NewAdmin,
			application.NewRegister,
			application.NewLogin,
			application.NewRefresh,
			application.NewLogout,
			application.NewAuthenticate,
			application.NewProfile,
			application.NewChangePassword,
			application.NewSessions,
			application.NewSigningKeys,
			application.NewSecondFactors,
			application.NewMFAVerify,
			application.NewTOTPSetup,
			application.NewPasskeys,
			application.NewThrottle,
			application.NewLocks,
			application.NewMailQueue,
			application.NewVerifyEmail,
			application.NewPasswordReset,
			application.NewChangeEmail,
			application.NewOutbox,
		),
		fx.Invoke(warnLimitsOff),
		fx.Invoke(func(l *application.Login, f *application.SecondFactors) { l.UseSecondFactors(f) }),
		fx.Invoke(func(f *application.SecondFactors, p *application.Passkeys) { f.UsePasskeys(p) }),
	)
}

// limits turns the throttling settings into the application's Limits.
func limits(cfg config.Config) application.Limits {
	r := func(c config.Rate) ports.RateLimit { return ports.RateLimit{Burst: c.Burst(), Period: c.Period()} }
	return application.Limits{
		Off:          cfg.RateLimits == "off",
		LoginAccount: r(cfg.RateLoginAccount), LoginIP: r(cfg.RateLoginIP),
		AccountLock: r(cfg.RateAccountLock), IPLock: r(cfg.RateIPLock), LockFor: cfg.LockDuration,
		Register: r(cfg.RateRegisterIP), Mail: r(cfg.RateMailIP), Passkey: r(cfg.RatePasskeyIP), TokenGuess: r(cfg.RateTokenGuessIP),
	}
}

// warnLimitsOff says loudly, at every start, that PORTCULLIS_RATE_LIMITS=off left the service
// open to brute force.
func warnLimitsOff(l application.Limits, log *slog.Logger) {
	if l.Off {
		log.Warn("RATE LIMITS ARE OFF (PORTCULLIS_RATE_LIMITS=off): logins, registration, mail and tokens are not " +
			"throttled; use this for load tests only, never in production")
	}
}

// mailer picks the mail adapter: SMTP when PORTCULLIS_SMTP_URL is set, else the log mailer.
func mailer(cfg config.Config) fx.Option {
	templates := fx.Supply(mail.TemplateConfig{Product: cfg.ProductName, PublicURL: cfg.PublicURL, Dir: cfg.MailTemplatesDir,
		VerifyTTL: cfg.VerifyEmailTTL, ResetTTL: cfg.ResetPasswordTTL, ChangeTTL: cfg.ChangeEmailTTL})
	if cfg.SMTPURL == "" {
		return fx.Options(mail.Module, templates)
	}
	return fx.Options(mail.SMTPModule, templates, fx.Supply(smtpConfig(cfg)))
}

func smtpConfig(cfg config.Config) mail.SMTPConfig {
	return mail.SMTPConfig{URL: cfg.SMTPURL, CAFile: cfg.SMTPTLSCAFile, From: cfg.MailFrom, ReplyTo: cfg.MailReplyTo,
		Timeout: cfg.MailSendTimeout}
}

func mailSettings(cfg config.Config) application.MailSettings {
	return application.MailSettings{
		PublicURL: cfg.PublicURL, VerifyPath: cfg.VerifyEmailPath, ResetPath: cfg.ResetPasswordPath, ConfirmPath: cfg.ConfirmEmailPath,
		VerifyTTL: cfg.VerifyEmailTTL, ResetTTL: cfg.ResetPasswordTTL, ChangeTTL: cfg.ChangeEmailTTL, DailyCap: cfg.MailDailyCap,
		AddressInterval: cfg.MailAddressInterval,
		MaxAttempts:     cfg.MailMaxAttempts, RetryBase: cfg.MailRetryBase, RetryMax: cfg.MailRetryMax,
		SendTimeout: cfg.MailSendTimeout, PollInterval: cfg.MailPollInterval,
	}
}

// mailWorker runs the outbox's delivery worker in this process from start to stop (unless
// PORTCULLIS_MAIL_WORKER=false), and wakes it whenever this process queues mail. It is part of
// the service, not of the operator's commands, which only queue.
func mailWorker(cfg config.Config) fx.Option {
	if !cfg.MailWorker {
		return fx.Options()
	}
	return fx.Options(
		fx.Provide(application.NewMailDelivery),
		fx.Invoke(func(lc fx.Lifecycle, d *application.MailDelivery, q *application.MailQueue) {
			q.OnQueued(d.Wake)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error {
					go func() { defer close(done); d.Run(ctx) }()
					return nil
				},
				OnStop: func(stop context.Context) error {
					cancel()
					select {
					case <-done:
						return nil
					case <-stop.Done():
						return fmt.Errorf("stop the mail delivery worker: %w", stop.Err())
					}
				},
			})
		}),
	)
}

// sessionStore picks the session store adapter named by PORTCULLIS_SESSION_STORE, and the rate
// limiter and challenge store that follow it: Redis counts across instances, otherwise each
// process counts alone; challenges (mfa_token, WebAuthn ceremonies) live where sessions do.
func sessionStore(cfg config.Config) fx.Option {
	switch s := cfg.SessionStore; {
	case s == "memory":
		return fx.Options(observeSessions(), memstore.Module, memstore.LimiterModule, memstore.ChallengesModule)
	case strings.HasPrefix(s, "redis"):
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

// userCache puts a usercache in front of SQL users on SQLite (data_version, as for sessions);
// MySQL and PostgreSQL keep none.
func userCache(cfg config.Config) fx.Option {
	if cfg.UserCacheSize == 0 {
		return fx.Options()
	}
	return fx.Provide(func(ver dataVersion) (sqlstore.UserWrap, error) {
		return func(_ *sqlstore.DB, users ports.UserStore) ports.UserStore {
			if ver.DataVersion == nil {
				return users
			}
			cache, err := usercache.New(users, cfg.UserCacheSize, ver.DataVersion)
			if err != nil { // only for a size otter refuses, which config.Load already did
				return users
			}
			return cache
		}, nil
	})
}

// redisSessionCache puts a sessioncache in front of a standalone Redis session store (redis://,
// rediss://), invalidated by Redis client tracking and answering only behind a read barrier
// (redisstore.Changes). Cluster and Sentinel keep no cache.
func redisSessionCache(cfg config.Config) fx.Option {
	standalone := strings.HasPrefix(cfg.SessionStore, "redis://") || strings.HasPrefix(cfg.SessionStore, "rediss://")
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
		cache, err := sessioncache.New(inner, cfg.SessionCacheSize, nil)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wait func()
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { wait = cache.Start(ctx, feed); return nil },
			OnStop:  func(context.Context) error { cancel(); wait(); return nil },
		})
		return cache, nil
	})
}

// sqlSessionCache puts a sessioncache in front of SQL sessions on SQLite, where PRAGMA
// data_version sees every commit by any connection (sqlstore.DataVersion). MySQL and PostgreSQL
// keep no cache.
func sqlSessionCache(cfg config.Config) fx.Option {
	if cfg.SessionCacheSize == 0 {
		return observeSessions()
	}
	return fx.Decorate(func(in observedSessions, ver dataVersion) (ports.SessionStore, error) {
		inner := in.store()
		if ver.DataVersion == nil {
			return inner, nil
		}
		return sessioncache.New(inner, cfg.SessionCacheSize, ver.DataVersion)
	})
}

func settings(cfg config.Config) application.Settings {
	return application.Settings{
		AccessTTL: cfg.AccessTTL, SessionIdle: cfg.SessionIdle, SessionAbsolute: cfg.SessionAbsolute,
		RefreshGrace: cfg.RefreshGrace, Strict: cfg.StrictSessions, RequireVerifiedEmail: cfg.RequireVerifiedEmail,
		TOTPIssuer: cfg.TOTPIssuer, MFATokenTTL: cfg.MFATokenTTL,
	}
}

func httpConfig(cfg config.Config) httpapi.Config {
	return httpapi.Config{
		Addr: cfg.Addr, PublicURL: cfg.PublicURL, AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		SecureCookies: cfg.SecureCookies, BodyLimit: cfg.BodyLimit,
		RequestTimeout: cfg.RequestTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
		Compat:          cfg.Compat,
		AdminRequireMFA: cfg.AdminRequireMFA,
	}
}

func tokenConfig(cfg config.Config, log *slog.Logger) (jwxtoken.Config, error) {
	tc := jwxtoken.Config{Alg: cfg.JWTAlg, Issuer: cfg.Issuer, Audience: cfg.Audience, AccessTTL: cfg.AccessTTL,
		Leeway: cfg.Leeway, KeyFile: cfg.JWTKeyFile, ReloadInterval: cfg.KeyReloadInterval, CacheSize: cfg.TokenCacheSize}
	if cfg.JWTAlg == "HS256" {
		secret, err := base64.StdEncoding.DecodeString(cfg.JWTSecret)
		if err != nil {
			return tc, fmt.Errorf("PORTCULLIS_JWT_SECRET: %w", err)
		}
		tc.Secret = secret
		return tc, nil
	}
	if cfg.JWTKeyFile != "" {
		return tc, nil
	}
	kek, err := keyEncryptionKey(cfg, log)
	tc.KeyEncryptionKey = kek
	return tc, err
}

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
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return startError(cfg, err)
	}
	dbKind, _ := sqlstore.KindOf(cfg.DatabaseURL)
	log.Info("portcullis started", "url", listenURL(srv), "public_url", cfg.PublicURL,
		"database", dbKind, "database_url", config.RedactURL(cfg.DatabaseURL), "sessions", sessionKind(cfg.SessionStore),
		"alg", cfg.JWTAlg, "strict", cfg.StrictSessions, "version", BuildVersion().Module)
	sig := <-app.Wait()
	log.Info("portcullis stopping", "signal", sig.Signal.String())
	stopCtx, cancelStop := context.WithTimeout(context.Background(), cfg.ShutdownTimeout+5*time.Second)
	defer cancelStop()
	return app.Stop(stopCtx)
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
// configured PORTCULLIS_MEMORY_LIMIT_MIB, else room for every hashing slot's argon2id memory
// (with a quarter to spare) over a 32 MiB base. Without it the collector lets the heap grow to
// twice the argon2id working set under login load before it collects, and the process keeps that
// memory. A GOMEMLIMIT in the environment (goEnv) is the runtime's own and wins.
func MemoryLimit(cfg config.Config, cores int, goEnv bool) int64 {
	const mib = 1 << 20
	switch {
	case goEnv || cfg.MemoryLimitMiB < 0:
		return 0
	case cfg.MemoryLimitMiB > 0:
		return int64(cfg.MemoryLimitMiB) * mib
	}
	hashing := int64(0)
	if cfg.PasswordHash != "bcrypt" {
		hashing = int64(cfg.Argon2Memory) * 1024 * int64(cores) * 5 / 4
	}
	return 32*mib + hashing
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
