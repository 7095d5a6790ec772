// Package app is Portcullis's composition root: it turns a validated config.Config into the fx
// graph of adapters and use cases, and runs it. It is the only place that knows which adapter
// implements which port.
package app

import (
	"encoding/base64"
	"fmt"
	"log/slog"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/adapters/telemetry"
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
		fx.Supply(telemetry.Config{MetricsAddr: cfg.MetricsAddr, Pprof: cfg.Pprof, OTLPEndpoint: cfg.OTLPEndpoint,
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
		passkeys(cfg, log),
		fx.Provide(func() (ports.SecretBox, error) {
			kek, err := keyEncryptionKey(cfg, log)
			if err != nil {
				return nil, err
			}
			return jwxtoken.NewSecretBox(kek)
		}),
		useCases(),
	)
}

// passkeys is the WebAuthn relying party, which warns at start when passkeys cannot work.
func passkeys(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		passkey.Module,
		fx.Supply(passkey.Config{RPID: cfg.PasskeyRPID, Origins: cfg.PasskeyOrigins, Name: cfg.ProductName}),
		fx.Invoke(func(w ports.WebAuthn) {
			if off, ok := w.(interface{ Off() bool }); ok && off.Off() {
				log.Warn("passkeys are off: the relying-party id is an IP address; set PORTCULLIS_PUBLIC_URL with a host name "+
					"(or PORTCULLIS_PASSKEY_RP_ID) to use them", "rp_id", cfg.PasskeyRPID)
			}
		}),
	)
}

// useCases provides every use case, and introduces those that call one another.
func useCases() fx.Option {
	return fx.Options(
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
		fx.Invoke(func(r *application.PasswordReset, f *application.SecondFactors) { r.UseSecondFactors(f) }),
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
		NoAccessLog:     !cfg.AccessLog,
		KeepConnBuffers: cfg.KeepConnBuffers,
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
