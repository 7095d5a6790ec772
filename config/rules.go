package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// rule checks one setting (or a few that depend on each other, reported under name). It
// returns nil, or the problem without the variable's name, which Validate puts in front.
type rule struct {
	name  string // the variable, after Prefix
	check func(c *Config) error
}

// rules is every check of Validate, in the order of the settings, reading the adapters' formats
// with p. Each setting's rule is written here once; the adapters take the values as valid.
func rules(p Parsers) []rule {
	databaseKind := func(c *Config) (string, error) {
		if p.DatabaseKind == nil {
			return "", errors.New("cannot be checked: config.Parsers has no DatabaseKind")
		}
		return p.DatabaseKind(c.DatabaseURL)
	}
	// redisStore reads a SESSION_STORE that is neither sql nor memory as a Redis URL.
	redisStore := func(c *Config) (tls bool, err error) {
		if p.RedisURL == nil {
			return false, errors.New("cannot be checked: config.Parsers has no RedisURL")
		}
		return p.RedisURL(c.SessionStore)
	}
	isRedis := func(c *Config) bool {
		_, err := redisStore(c)
		return c.SessionStore != "sql" && c.SessionStore != "memory" && err == nil
	}
	return []rule{
		{"ADDR", func(c *Config) error { return listenAddr(c.Addr) }},
		{"DATA_DIR", func(c *Config) error { return c.checkDataDir() }},
		{"DATABASE_URL", func(c *Config) error { _, err := databaseKind(c); return err }},
		{"SESSION_STORE", func(c *Config) error {
			if c.SessionStore == "sql" || c.SessionStore == "memory" {
				return nil
			}
			if _, err := redisStore(c); err != nil {
				return fmt.Errorf("must be sql, memory or a Redis URL (%v), got %q", err, RedactURL(c.SessionStore))
			}
			if _, err := url.Parse(c.SessionStore); err != nil {
				return fmt.Errorf("invalid URL: %v", err)
			}
			return nil
		}},
		{"DB_MAX_OPEN_CONNS", func(c *Config) error { return atLeast(c.DBMaxOpenConns, 0, "must not be negative") }},
		{"DB_MAX_IDLE_CONNS", func(c *Config) error {
			if c.DBMaxIdleConns < 0 {
				return errors.New("must not be negative")
			}
			if c.DBMaxOpenConns > 0 && c.DBMaxIdleConns > c.DBMaxOpenConns {
				return errors.New("must not exceed DB_MAX_OPEN_CONNS")
			}
			return nil
		}},
		{"DB_CONN_MAX_LIFETIME", func(c *Config) error { return notNegative(c.DBConnMaxLifetime) }},
		{"DB_CONNECT_TIMEOUT", func(c *Config) error { return positive(c.DBConnectTimeout) }},
		{"DB_TLS_CA_FILE", func(c *Config) error {
			if c.DBTLSCAFile == "" {
				return nil
			}
			if kind, _ := databaseKind(c); kind == "sqlite" {
				return errors.New("is only for mysql:// and postgres:// databases")
			}
			return readable(c.DBTLSCAFile)
		}},
		{"REDIS_POOL_SIZE", func(c *Config) error { return atLeast(c.RedisPoolSize, 0, "must not be negative") }},
		{"REDIS_DIAL_TIMEOUT", func(c *Config) error { return notNegative(c.RedisDialTimeout) }},
		{"REDIS_READ_TIMEOUT", func(c *Config) error { return notNegative(c.RedisReadTimeout) }},
		{"REDIS_WRITE_TIMEOUT", func(c *Config) error { return notNegative(c.RedisWriteTimeout) }},
		{"REDIS_KEY_PREFIX", func(c *Config) error {
			if strings.ContainsAny(c.RedisKeyPrefix, "{}") {
				return errors.New("must not contain { or } (keys carry their own hash tags)")
			}
			return nil
		}},
		{"REDIS_WAIT_REPLICAS", func(c *Config) error {
			if c.RedisWaitReplicas < 0 {
				return errors.New("must not be negative")
			}
			if c.RedisWaitReplicas > 0 && !isRedis(c) {
				return errors.New("needs a Redis SESSION_STORE")
			}
			return nil
		}},
		{"REDIS_WAIT_TIMEOUT", func(c *Config) error {
			if c.RedisWaitReplicas <= 0 {
				return nil
			}
			if c.RedisWaitTimeout <= 0 {
				return errors.New("must be a positive duration")
			}
			if read := c.RedisReadTimeout; read > 0 && c.RedisWaitTimeout >= read {
				return fmt.Errorf("must be shorter than REDIS_READ_TIMEOUT (%s): WAIT's reply is read within it", read)
			}
			if req := c.RequestTimeout; req > 0 && c.RedisWaitTimeout >= req {
				return fmt.Errorf("must be shorter than REQUEST_TIMEOUT (%s): a write waits for its replicas within its request", req)
			}
			return nil
		}},
		{"REDIS_TLS_CA_FILE", func(c *Config) error {
			if c.RedisTLSCAFile == "" {
				return nil
			}
			if tls, _ := redisStore(c); !tls {
				return errors.New("needs a Redis SESSION_STORE over TLS (a rediss scheme)")
			}
			return readable(c.RedisTLSCAFile)
		}},
		{"PUBLIC_URL", func(c *Config) error {
			if !httpURL(c.PublicURL) {
				return fmt.Errorf("must be an absolute http(s) URL, got %q", RedactURL(c.PublicURL))
			}
			// Emailed links are PUBLIC_URL followed by a path and the token: a query or a
			// fragment would swallow them, and user info would go out in every mail.
			u, _ := url.Parse(c.PublicURL)
			if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.PublicURL, "#") {
				return fmt.Errorf("must be a base URL without user info, query or fragment (links are built on it), got %q", RedactURL(c.PublicURL))
			}
			// Its origin is the default allowed origin and passkey origin.
			if err := originPort(u); err != nil {
				return fmt.Errorf("%q: %w", RedactURL(c.PublicURL), err)
			}
			return nil
		}},
		// An empty ISSUER is the default (see fillDefaults); AUDIENCE="" is refused as set but
		// empty. Both are compared exactly with the claims, here and by every relying party.
		{"ISSUER", func(c *Config) error { return claimValue(c.Issuer) }},
		{"AUDIENCE", func(c *Config) error { return claimValue(c.Audience) }},
		{"JWT_ALG", func(c *Config) error { return given(p.JWTAlg, "JWTAlg", c.JWTAlg) }},
		{"JWT_KEY_FILE", func(c *Config) error {
			if c.JWTKeyFile == "" {
				return nil
			}
			if err := givenFor(p.JWTKeyFile, "JWTKeyFile", c.JWTAlg, c.JWTKeyFile); err != nil {
				return err
			}
			return readable(c.JWTKeyFile)
		}},
		{"JWT_SECRET", func(c *Config) error {
			secret, err := base64.StdEncoding.DecodeString(c.JWTSecret)
			if err != nil {
				return errors.New("must be base64")
			}
			return givenFor(p.JWTSecret, "JWTSecret", c.JWTAlg, secret)
		}},
		{"KEY_ENCRYPTION_KEY", func(c *Config) error {
			if c.KeyEncryptionKey == "" {
				return nil
			}
			if b, err := base64.StdEncoding.DecodeString(c.KeyEncryptionKey); err != nil || len(b) != 32 {
				return errors.New("must be 32 bytes, base64-encoded")
			}
			return nil
		}},
		{"ACCESS_TTL", func(c *Config) error { return positive(c.AccessTTL) }},
		{"LEEWAY", func(c *Config) error { return given(p.Leeway, "Leeway", c.Leeway) }},
		{"SESSION_IDLE", func(c *Config) error {
			if err := positive(c.SessionIdle); err != nil {
				return err
			}
			if c.SessionIdle > c.SessionAbsolute {
				return errors.New("must not exceed SESSION_ABSOLUTE")
			}
			return nil
		}},
		{"SESSION_ABSOLUTE", func(c *Config) error { return positive(c.SessionAbsolute) }},
		{"REFRESH_GRACE", func(c *Config) error { return between(c.RefreshGrace, 0, time.Minute) }},
		{"MFA_TOKEN_TTL", func(c *Config) error { return between(c.MFATokenTTL, 30*time.Second, 15*time.Minute) }},
		// Empty passkey settings are the defaults PUBLIC_URL could not give; its rule says why.
		{"PASSKEY_RP_ID", func(c *Config) error {
			if c.PasskeyRPID == "" {
				return nil
			}
			return givenFor(p.PasskeyRPID, "PasskeyRPID", c.PasskeyRPID, c.PasskeyOrigins)
		}},
		{"PASSKEY_ORIGINS", func(c *Config) error {
			if len(c.PasskeyOrigins) == 0 {
				return nil
			}
			return given(p.PasskeyOrigins, "PasskeyOrigins", c.PasskeyOrigins)
		}},
		{"TOTP_ISSUER", func(c *Config) error {
			if strings.ContainsAny(c.TOTPIssuer, ":") || c.TOTPIssuer == "" || len(c.TOTPIssuer) > 64 {
				return errors.New("must be 1 to 64 characters without ':'")
			}
			return nil
		}},
		{"ALLOWED_ORIGINS", func(c *Config) error {
			for _, o := range c.AllowedOrigins {
				u, err := url.Parse(o)
				if err != nil || !httpURL(o) || u.Path != "" {
					return fmt.Errorf("%q is not an origin like https://app.example.com", o)
				}
				if err := originPort(u); err != nil {
					return fmt.Errorf("%q: %w", o, err)
				}
			}
			return nil
		}},
		{"TRUSTED_PROXIES", func(c *Config) error {
			for _, p := range c.TrustedProxies {
				if _, err := netip.ParsePrefix(p); err != nil {
					if _, err := netip.ParseAddr(p); err != nil {
						return fmt.Errorf("%q is not an IP or CIDR", p)
					}
				}
			}
			return nil
		}},
		{"PASSWORD_HASH", func(c *Config) error { return given(p.PasswordHash, "PasswordHash", c.PasswordHash) }},
		{"ARGON2_MEMORY_KIB", func(c *Config) error { return given(p.Argon2Memory, "Argon2Memory", c.Argon2Memory) }},
		{"ARGON2_TIME", func(c *Config) error { return given(p.Argon2Time, "Argon2Time", c.Argon2Time) }},
		{"ARGON2_THREADS", func(c *Config) error { return given(p.Argon2Threads, "Argon2Threads", c.Argon2Threads) }},
		{"BCRYPT_COST", func(c *Config) error { return given(p.BcryptCost, "BcryptCost", c.BcryptCost) }},
		{"BODY_LIMIT", func(c *Config) error { return within(c.BodyLimit, 1024, 1<<20) }},
		{"REQUEST_TIMEOUT", func(c *Config) error { return positive(c.RequestTimeout) }},
		{"SHUTDOWN_TIMEOUT", func(c *Config) error {
			if err := positive(c.ShutdownTimeout); err != nil {
				return err
			}
			if req := c.RequestTimeout; req > 0 && c.ShutdownTimeout < req {
				return fmt.Errorf("must not be shorter than REQUEST_TIMEOUT (%s): a request in flight at SIGTERM may take that long to finish", req)
			}
			return nil
		}},
		{"KEY_RELOAD_INTERVAL", func(c *Config) error { return between(c.KeyReloadInterval, time.Second, time.Hour) }},
		{"BOOTSTRAP_ADMIN_EMAIL", func(c *Config) error {
			if (c.BootstrapAdminEmail == "") != (c.BootstrapAdminPasswordFile == "") {
				return errors.New("and PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE must be set together")
			}
			return nil
		}},
		{"BOOTSTRAP_ADMIN_PASSWORD_FILE", func(c *Config) error {
			if c.BootstrapAdminEmail == "" || c.BootstrapAdminPasswordFile == "" {
				return nil
			}
			return readable(c.BootstrapAdminPasswordFile)
		}},
		{"RATE_LIMITS", func(c *Config) error { return oneOf(c.RateLimits, "must be on or off, got %q", "on", "off") }},
		{"LOCK_DURATION", func(c *Config) error { return between(c.LockDuration, 0, 24*time.Hour) }},
		{"SMTP_URL", func(c *Config) error {
			if c.SMTPURL == "" {
				return nil
			}
			if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
				return fmt.Errorf("must be smtp://[user:pass@]host[:port] or smtps://..., got %q", RedactURL(c.SMTPURL))
			}
			return nil
		}},
		{"SMTP_TLS_CA_FILE", func(c *Config) error {
			switch {
			case c.SMTPTLSCAFile == "":
				return nil
			case c.SMTPURL == "":
				return errors.New("needs SMTP_URL")
			}
			return readable(c.SMTPTLSCAFile)
		}},
		{"MAIL_FROM", func(c *Config) error {
			if _, err := mail.ParseAddress(c.MailFrom); err != nil {
				return fmt.Errorf("%q is not an address like 'Portcullis <no-reply@example.com>'", c.MailFrom)
			}
			return nil
		}},
		{"MAIL_REPLY_TO", func(c *Config) error {
			if c.MailReplyTo == "" {
				return nil
			}
			if _, err := mail.ParseAddress(c.MailReplyTo); err != nil {
				return fmt.Errorf("%q is not an address", c.MailReplyTo)
			}
			return nil
		}},
		{"PRODUCT_NAME", func(c *Config) error {
			if strings.TrimSpace(c.ProductName) == "" || strings.ContainsAny(c.ProductName, "\r\n") {
				return errors.New("must be one non-empty line")
			}
			return nil
		}},
		{"MAIL_TEMPLATES_DIR", func(c *Config) error {
			if c.MailTemplatesDir == "" {
				return nil
			}
			if st, err := os.Stat(c.MailTemplatesDir); err != nil || !st.IsDir() {
				return errors.New("is not a directory")
			}
			return nil
		}},
		{"VERIFY_EMAIL_TTL", func(c *Config) error { return positive(c.VerifyEmailTTL) }},
		{"RESET_PASSWORD_TTL", func(c *Config) error { return positive(c.ResetPasswordTTL) }},
		{"CHANGE_EMAIL_TTL", func(c *Config) error { return positive(c.ChangeEmailTTL) }},
		{"VERIFY_EMAIL_PATH", func(c *Config) error { return linkPath(c.VerifyEmailPath) }},
		{"RESET_PASSWORD_PATH", func(c *Config) error { return linkPath(c.ResetPasswordPath) }},
		{"CONFIRM_EMAIL_PATH", func(c *Config) error { return linkPath(c.ConfirmEmailPath) }},
		{"MAIL_ADDRESS_INTERVAL", func(c *Config) error { return positive(c.MailAddressInterval) }},
		{"MAIL_DAILY_CAP", func(c *Config) error { return atLeast(c.MailDailyCap, 1, "must be at least 1") }},
		{"MAIL_MAX_ATTEMPTS", func(c *Config) error { return within(c.MailMaxAttempts, 1, 100) }},
		{"MAIL_RETRY_BASE", func(c *Config) error {
			if err := positive(c.MailRetryBase); err != nil {
				return err
			}
			if c.MailRetryBase > c.MailRetryMax {
				return errors.New("must not exceed MAIL_RETRY_MAX")
			}
			return nil
		}},
		{"MAIL_RETRY_MAX", func(c *Config) error { return positive(c.MailRetryMax) }},
		{"MAIL_SEND_TIMEOUT", func(c *Config) error { return positive(c.MailSendTimeout) }},
		{"MAIL_POLL_INTERVAL", func(c *Config) error { return positive(c.MailPollInterval) }},
		{"LOG_LEVEL", func(c *Config) error {
			return oneOf(c.LogLevel, "must be debug, info, warn or error, got %q", "debug", "info", "warn", "error")
		}},
		{"LOG_FORMAT", func(c *Config) error {
			return oneOf(c.LogFormat, "must be json, text or auto, got %q", "json", "text", "auto")
		}},
		{"TOKEN_CACHE_SIZE", func(c *Config) error { return within(c.TokenCacheSize, 0, 1<<20) }},
		{"SESSION_CACHE_SIZE", func(c *Config) error { return within(c.SessionCacheSize, 0, 1<<20) }},
		{"USER_CACHE_SIZE", func(c *Config) error { return within(c.UserCacheSize, 0, 1<<20) }},
		{"MEMORY_LIMIT_MIB", func(c *Config) error {
			if c.MemoryLimitMiB < -1 || c.MemoryLimitMiB > 1<<20 {
				return errors.New("must be -1 (none), 0 (automatic) or a size in MiB")
			}
			return nil
		}},
		{"PASSWORD_QUEUE", func(c *Config) error { return within(c.PasswordQueue, 0, 1<<16) }},
		{"COMPAT", func(c *Config) error { return oneOf(c.Compat, "must be seed or empty, got %q", "", "seed") }},
		{"TELEMETRY", func(c *Config) error {
			if err := oneOf(c.Telemetry, "must be on or off, got %q", "on", "off"); err != nil {
				return err
			}
			if c.Telemetry == "off" && (c.MetricsAddr != "" || c.OTLPEndpoint != "") {
				return errors.New("off leaves out the metrics and traces that METRICS_ADDR or OTLP_ENDPOINT (OTEL_EXPORTER_OTLP_ENDPOINT) asks for")
			}
			return nil
		}},
		{"METRICS_ADDR", func(c *Config) error {
			if c.MetricsAddr == "" {
				return nil
			}
			if err := listenAddr(c.MetricsAddr); err != nil {
				return err
			}
			if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
				return errors.New("must differ from PORTCULLIS_ADDR (leave it unset to serve /metrics there)")
			}
			return nil
		}},
		{"PPROF", func(c *Config) error {
			if c.Pprof && c.MetricsAddr == "" {
				return errors.New("true needs PORTCULLIS_METRICS_ADDR: the profiles are served on that internal listener only, never on PORTCULLIS_ADDR")
			}
			return nil
		}},
		{"OTLP_ENDPOINT", func(c *Config) error {
			if c.OTLPEndpoint != "" && !httpURL(c.OTLPEndpoint) {
				return fmt.Errorf("%q is not an http:// or https:// URL (OTEL_EXPORTER_OTLP_ENDPOINT counts too)", RedactURL(c.OTLPEndpoint))
			}
			return nil
		}},
	}
}

// Validate checks every setting against its rule, reading the adapters' formats with p, and
// returns all problems joined, one a line, each naming its variable.
func (c Config) Validate(p Parsers) error {
	var errs []error
	for _, r := range rules(p) {
		if err := r.check(&c); err != nil {
			errs = append(errs, fmt.Errorf("%s%s: %w", Prefix, r.name, err))
		}
	}
	return errors.Join(errs...)
}

// The shapes of rule, each returning the problem in words a user reads after the name.

// given checks v with an adapter's check from Parsers (its field named field), or says it is
// missing.
func given[T any](check func(T) error, field string, v T) error {
	if check == nil {
		return fmt.Errorf("cannot be checked: config.Parsers has no %s", field)
	}
	return check(v)
}

// givenFor is given for a check of s that also reads another setting's v (JWT_ALG's key
// material, PASSKEY_RP_ID's origins).
func givenFor[T any](check func(string, T) error, field, s string, v T) error {
	if check == nil {
		return fmt.Errorf("cannot be checked: config.Parsers has no %s", field)
	}
	return check(s, v)
}

func positive(d time.Duration) error {
	if d <= 0 {
		return errors.New("must be a positive duration")
	}
	return nil
}

func notNegative(d time.Duration) error {
	if d < 0 {
		return errors.New("must not be negative")
	}
	return nil
}

func between(d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("must be between %s and %s", shortDuration(lo), shortDuration(hi))
	}
	return nil
}

func within(n, lo, hi int) error {
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	return nil
}

func atLeast[N int | uint32 | uint8](n, lo N, problem string) error {
	if n < lo {
		return errors.New(problem)
	}
	return nil
}

func oneOf(v, problem string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf(problem, v)
}

func readable(path string) error {
	if _, err := os.ReadFile(path); err != nil {
		return fmt.Errorf("cannot read: %v", err)
	}
	return nil
}

func httpURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// originPort refuses the port of u, a URL whose origin is compared with the Origin a browser
// sends, when no browser would send it: not a number from 1 to 65535 (url.Parse takes any
// digits, or none, after the host's colon), or the scheme's default port, which browsers leave
// out (https://app.example.com:443 is sent as https://app.example.com). Either would match
// nothing.
func originPort(u *url.URL) error {
	if strings.LastIndex(u.Host, ":") <= strings.LastIndex(u.Host, "]") {
		return nil // no port
	}
	n, err := strconv.Atoi(u.Port())
	switch {
	case err != nil || n < 1 || n > 65535:
		return errors.New("the port must be a number from 1 to 65535")
	case (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80):
		return fmt.Errorf("leave out the default port :%d (browsers send the origin without it)", n)
	}
	return nil
}

// claimValue checks a value the service puts in every access token's claims and that
// relying parties compare exactly: white space around it is a typo no one sees in a log.
func claimValue(v string) error {
	if strings.TrimSpace(v) != v || v == "" {
		return fmt.Errorf("must not be blank or start or end with white space (the claim is compared exactly), got %q", v)
	}
	return nil
}

func linkPath(p string) error {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, " #\r\n") {
		return fmt.Errorf("must be a path starting with / (the token is appended), got %q", p)
	}
	return nil
}

// listenAddr checks a listen address: [host]:port with a port from 0 to 65535 (0: any free
// port) and a host that is empty, an IP address or a host name.
func listenAddr(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port or :port (e.g. :8080 or 127.0.0.1:8080)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && strings.ContainsAny(host, " /?#@") {
		return fmt.Errorf("%q: %q is not a host name or IP address", addr, host)
	}
	return nil
}

// checkDataDir checks, when the service keeps anything in DATA_DIR (the default SQLite
// database, a generated key-encryption key), that the directory is one or can be made, and
// written: the nearest part of the path that exists must be a directory in which a directory
// can be made. It proves that by making one and removing it again, so it leaves nothing behind
// (file modes alone do not tell: root passes them, and /proc refuses even root).
//
// A directory that only keeps an existing key-encryption key (the database elsewhere) is only
// read, so it may be read-only, as a mounted secret is.
func (c *Config) checkDataDir() error {
	if !c.UsesDataDir() {
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, KeyEncryptionKeyFile)); err == nil && !c.DatabaseInDataDir() {
		return nil
	}
	for p := c.DataDir; ; {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("cannot create %s: %s is not a directory", c.DataDir, p)
			}
			probe, err := os.MkdirTemp(p, ".portcullis-check-")
			if err != nil {
				return fmt.Errorf("cannot create %s: %s takes no new directory: %v", c.DataDir, p, errors.Unwrap(err))
			}
			if err := os.Remove(probe); err != nil {
				return fmt.Errorf("cannot remove the directory %s made to check it: %v", probe, err)
			}
			return nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}
