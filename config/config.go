// Package config reads Portcullis's settings from PORTCULLIS_* environment variables into one
// typed struct and validates them once at start. Nothing else in Portcullis reads the
// environment. It imports nothing of Portcullis's own.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Prefix starts the name of every setting.
const Prefix = "PORTCULLIS_"

// defaultIssuer is the iss claim when neither ISSUER nor PUBLIC_URL is set.
const defaultIssuer = "http://localhost:8080"

// Config is every setting of Portcullis. The `env` tag names the variable (after Prefix), the
// `envDefault` tag gives its default (the one place defaults are written), `help` says what it
// is for, and `secret` marks a value `portcullis config` must not print ("true": hide it;
// "url": hide the URL's password); `portcullis config` prints them all beside the effective
// values.
type Config struct {
	Addr                       string        `env:"ADDR" envDefault:":8080" help:"address the HTTP server listens on"`
	DataDir                    string        `env:"DATA_DIR" envDefault:"./data" help:"directory for the embedded SQLite database and generated secrets"`
	DatabaseURL                string        `env:"DATABASE_URL" secret:"url" help:"database: sqlite://PATH, a file path, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db (default: SQLite in DATA_DIR)"`
	SessionStore               string        `env:"SESSION_STORE" secret:"url" envDefault:"sql" help:"session store: sql (the database), memory (one process only), redis://host:6379/0, rediss://..., redis+cluster://host1:6379,host2:6379 for Redis Cluster, or redis+sentinel://s1:26379,s2:26379/master-name for Redis Sentinel (rediss+... for TLS)"`
	AutoMigrate                bool          `env:"AUTO_MIGRATE" envDefault:"true" help:"apply pending database migrations at start"`
	DBMaxOpenConns             int           `env:"DB_MAX_OPEN_CONNS" help:"most open database connections (default: 20; 4 for SQLite)"`
	DBMaxIdleConns             int           `env:"DB_MAX_IDLE_CONNS" help:"most idle database connections kept for reuse (default: DB_MAX_OPEN_CONNS)"`
	DBConnMaxLifetime          time.Duration `env:"DB_CONN_MAX_LIFETIME" help:"close database connections older than this (default: 30m; SQLite: never)"`
	DBConnectTimeout           time.Duration `env:"DB_CONNECT_TIMEOUT" envDefault:"5s" help:"longest wait to connect to a MySQL or PostgreSQL server"`
	DBTLSCAFile                string        `env:"DB_TLS_CA_FILE" help:"PEM CA certificates to verify the MySQL or PostgreSQL server against (MySQL: replaces the URL's tls=; PostgreSQL: sslrootcert, sslmode=verify-full unless the URL sets one)"`
	RedisPoolSize              int           `env:"REDIS_POOL_SIZE" help:"Redis connections per node (default: the URL's pool_size, else 10 per CPU)"`
	RedisDialTimeout           time.Duration `env:"REDIS_DIAL_TIMEOUT" help:"longest wait to connect to a Redis node (default: the URL's dial_timeout, else 5s)"`
	RedisReadTimeout           time.Duration `env:"REDIS_READ_TIMEOUT" help:"longest wait for one Redis reply (default: the URL's read_timeout, else 3s)"`
	RedisWriteTimeout          time.Duration `env:"REDIS_WRITE_TIMEOUT" help:"longest wait to send one Redis command (default: the URL's write_timeout, else 3s)"`
	RedisKeyPrefix             string        `env:"REDIS_KEY_PREFIX" help:"starts every Redis key, to share one Redis between deployments (no { or })"`
	RedisWaitReplicas          int           `env:"REDIS_WAIT_REPLICAS" envDefault:"0" help:"Redis session writes (login, refresh, logout, revocations) wait until this many replicas of their master have them (WAIT), else 503; 0: asynchronous, a master lost right after a write can lose it"`
	RedisWaitTimeout           time.Duration `env:"REDIS_WAIT_TIMEOUT" envDefault:"1s" help:"longest wait for REDIS_WAIT_REPLICAS replicas to acknowledge a write (below the Redis read timeout and REQUEST_TIMEOUT)"`
	RedisTLSCAFile             string        `env:"REDIS_TLS_CA_FILE" help:"PEM CA certificates to verify Redis against (rediss://, rediss+cluster:// and rediss+sentinel:// only)"`
	PublicURL                  string        `env:"PUBLIC_URL" help:"external base URL (no query, fragment or user info), used in emailed links and as the default issuer (default: http://localhost:PORT, PORT from ADDR)"`
	Issuer                     string        `env:"ISSUER" help:"iss claim of access tokens (default: PUBLIC_URL when set, else http://localhost:8080 whatever the port)"`
	Audience                   string        `env:"AUDIENCE" envDefault:"portcullis" help:"aud claim of access tokens"`
	JWTAlg                     string        `env:"JWT_ALG" envDefault:"EdDSA" help:"signing algorithm: EdDSA, ES256, RS256 or HS256"`
	JWTKeyFile                 string        `env:"JWT_KEY_FILE" help:"PEM private key to sign with instead of database-kept keys (EdDSA, ES256, RS256)"`
	JWTSecret                  string        `env:"JWT_SECRET" secret:"true" help:"HS256 only: base64 secret of at least 32 bytes (256 bits)"`
	KeyEncryptionKey           string        `env:"KEY_ENCRYPTION_KEY" secret:"true" help:"base64 32-byte key that seals signing keys in the database (default: generated into DATA_DIR/key-encryption-key); every instance must share it"`
	AccessTTL                  time.Duration `env:"ACCESS_TTL" envDefault:"15m" help:"lifetime of access tokens"`
	Leeway                     time.Duration `env:"LEEWAY" envDefault:"30s" help:"clock skew allowed when checking exp, nbf and iat"`
	SessionIdle                time.Duration `env:"SESSION_IDLE" envDefault:"168h" help:"a session unused (not refreshed) for this long ends"`
	SessionAbsolute            time.Duration `env:"SESSION_ABSOLUTE" envDefault:"720h" help:"a session ends this long after login, whatever its use"`
	RefreshGrace               time.Duration `env:"REFRESH_GRACE" envDefault:"10s" help:"window in which the immediate predecessor of a refresh token returns the same successor"`
	StrictSessions             bool          `env:"STRICT_SESSIONS" envDefault:"true" help:"check on every authenticated request that the session is live (logout seen at once)"`
	AdminRequireMFA            bool          `env:"ADMIN_REQUIRE_MFA" envDefault:"false" help:"admin-only routes demand a session opened with a second factor (TOTP, recovery code or passkey)"`
	MFATokenTTL                time.Duration `env:"MFA_TOKEN_TTL" envDefault:"5m" help:"lifetime of the mfa_token a password login of a user with a second factor returns"`
	PasskeyRPID                string        `env:"PASSKEY_RP_ID" help:"WebAuthn relying-party id passkeys are bound to: the host of the passkey origins or a parent domain of it that is not a public suffix (default: PUBLIC_URL's host)"`
	PasskeyOrigins             []string      `env:"PASSKEY_ORIGINS" envSeparator:"," help:"comma-separated web origins allowed to register and use passkeys (default: PUBLIC_URL's origin)"`
	TOTPIssuer                 string        `env:"TOTP_ISSUER" envDefault:"Portcullis" help:"issuer name authenticator apps show beside TOTP codes"`
	AllowedOrigins             []string      `env:"ALLOWED_ORIGINS" envSeparator:"," help:"comma-separated origins allowed for CORS and cookie-authenticated writes (default: PUBLIC_URL's origin)"`
	SecureCookies              bool          `env:"SECURE_COOKIES" envDefault:"false" help:"mark cookies Secure with __Host-/__Secure- prefixes and send HSTS (set behind HTTPS)"`
	TrustedProxies             []string      `env:"TRUSTED_PROXIES" envSeparator:"," help:"comma-separated IPs or CIDRs whose X-Forwarded-For is believed"`
	PasswordHash               string        `env:"PASSWORD_HASH" envDefault:"argon2id" help:"hash for new passwords: argon2id or bcrypt (bcrypt takes at most 72 bytes: a longer new password is refused with 422 password_too_long)"`
	Argon2Memory               uint32        `env:"ARGON2_MEMORY_KIB" envDefault:"19456" help:"argon2id memory in KiB (at least 19456)"`
	Argon2Time                 uint32        `env:"ARGON2_TIME" envDefault:"2" help:"argon2id iterations (at least 2)"`
	Argon2Threads              uint8         `env:"ARGON2_THREADS" envDefault:"1" help:"argon2id parallelism"`
	BcryptCost                 int           `env:"BCRYPT_COST" envDefault:"12" help:"bcrypt cost when PASSWORD_HASH=bcrypt"`
	BodyLimit                  int           `env:"BODY_LIMIT" envDefault:"16384" help:"largest request body in bytes"`
	RequestTimeout             time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s" help:"longest a request may wait on a store"`
	ShutdownTimeout            time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"20s" help:"how long SIGTERM waits for in-flight requests (at least REQUEST_TIMEOUT)"`
	KeyReloadInterval          time.Duration `env:"KEY_RELOAD_INTERVAL" envDefault:"30s" help:"how often each instance re-reads the signing keys (a rotated key is published this long, twice over, before it signs)"`
	BootstrapAdminEmail        string        `env:"BOOTSTRAP_ADMIN_EMAIL" help:"on first start with no admin, create this admin user (needs BOOTSTRAP_ADMIN_PASSWORD_FILE)"`
	BootstrapAdminPasswordFile string        `env:"BOOTSTRAP_ADMIN_PASSWORD_FILE" help:"file holding the bootstrap admin's password"`
	RateLimits                 string        `env:"RATE_LIMITS" envDefault:"on" help:"on, or off to turn every throttling limit off (load tests only; logged loudly at start)"`
	RateLoginAccount           Rate          `env:"RATE_LOGIN_ACCOUNT" envDefault:"5/1m" help:"failed logins of one account before each further attempt waits: N/period, N at once then one per period/N (0: no limit)"`
	RateLoginIP                Rate          `env:"RATE_LOGIN_IP" envDefault:"20/1m" help:"failed logins from one client address (IPv6: its /64), over all accounts, before each further attempt waits"`
	RateAccountLock            Rate          `env:"RATE_ACCOUNT_LOCK" envDefault:"10/15m" help:"failed logins of one account, refilled over the period, after which it is softly locked for LOCK_DURATION"`
	RateIPLock                 Rate          `env:"RATE_IP_LOCK" envDefault:"100/15m" help:"failed logins from one client address after which the address is softly locked for LOCK_DURATION"`
	LockDuration               time.Duration `env:"LOCK_DURATION" envDefault:"15m" help:"how long a soft lock lasts; a password reset or an admin unlock lifts it sooner (0: no locks)"`
	RateRegisterIP             Rate          `env:"RATE_REGISTER_IP" envDefault:"10/1h" help:"registrations from one client address"`
	RateMailIP                 Rate          `env:"RATE_MAIL_IP" envDefault:"10/1h" help:"requests that send mail (verification resend, forgot password, address change) from one client address"`
	RatePasskeyIP              Rate          `env:"RATE_PASSKEY_IP" envDefault:"30/1m" help:"passkey login ceremonies begun from one client address (each stores a challenge for five minutes)"`
	RateTokenGuessIP           Rate          `env:"RATE_TOKEN_GUESS_IP" envDefault:"10/10m" help:"bad tokens (refresh, e-mail links) one client address may present before each further one waits"`
	SMTPURL                    string        `env:"SMTP_URL" secret:"url" help:"mail server: smtp://user:pass@host:587 (STARTTLS required; ?starttls=none for a local relay without TLS) or smtps://user:pass@host:465; unset: mail is written to the log"`
	SMTPTLSCAFile              string        `env:"SMTP_TLS_CA_FILE" help:"PEM CA certificates to verify the SMTP server against"`
	MailFrom                   string        `env:"MAIL_FROM" help:"sender of every mail, e.g. 'Portcullis <no-reply@example.com>' (default: PRODUCT_NAME <no-reply@PUBLIC_URL's host>)"`
	MailReplyTo                string        `env:"MAIL_REPLY_TO" help:"Reply-To address of every mail (default: none)"`
	ProductName                string        `env:"PRODUCT_NAME" envDefault:"Portcullis" help:"the service's name in mail"`
	MailTemplatesDir           string        `env:"MAIL_TEMPLATES_DIR" help:"directory of mail templates that replace the embedded ones file by file (verify_email.txt, verify_email.html, layout.html ...)"`
	RequireVerifiedEmail       bool          `env:"REQUIRE_VERIFIED_EMAIL" envDefault:"false" help:"refuse login until the address is verified, and answer every registration alike (202) so it reveals no account"`
	VerifyEmailTTL             time.Duration `env:"VERIFY_EMAIL_TTL" envDefault:"24h" help:"lifetime of an e-mail verification link"`
	ResetPasswordTTL           time.Duration `env:"RESET_PASSWORD_TTL" envDefault:"30m" help:"lifetime of a password reset link"`
	ChangeEmailTTL             time.Duration `env:"CHANGE_EMAIL_TTL" envDefault:"1h" help:"lifetime of an e-mail change confirmation link"`
	VerifyEmailPath            string        `env:"VERIFY_EMAIL_PATH" envDefault:"/verify-email?token=" help:"path after PUBLIC_URL of verification links, the token appended (point it at your front-end to take over the page)"`
	ResetPasswordPath          string        `env:"RESET_PASSWORD_PATH" envDefault:"/reset-password?token=" help:"path after PUBLIC_URL of password reset links, the token appended"`
	ConfirmEmailPath           string        `env:"CONFIRM_EMAIL_PATH" envDefault:"/confirm-email?token=" help:"path after PUBLIC_URL of e-mail change links, the token appended"`
	MailAddressInterval        time.Duration `env:"MAIL_ADDRESS_INTERVAL" envDefault:"1m" help:"least time between two verification, reset or change mails to one address; one asked for sooner is accepted and not sent"`
	MailDailyCap               int           `env:"MAIL_DAILY_CAP" envDefault:"10" help:"most verification, reset and change mails one address gets a day (besides one a minute); more are accepted and not sent"`
	MailMaxAttempts            int           `env:"MAIL_MAX_ATTEMPTS" envDefault:"8" help:"delivery attempts of one mail before it is marked failed (portcullis mail retry sends it again)"`
	MailRetryBase              time.Duration `env:"MAIL_RETRY_BASE" envDefault:"10s" help:"wait after a failed delivery; doubles each time up to MAIL_RETRY_MAX"`
	MailRetryMax               time.Duration `env:"MAIL_RETRY_MAX" envDefault:"10m" help:"longest wait between delivery attempts"`
	MailSendTimeout            time.Duration `env:"MAIL_SEND_TIMEOUT" envDefault:"30s" help:"bound of one delivery attempt; a mail being sent is leased for twice as long"`
	MailPollInterval           time.Duration `env:"MAIL_POLL_INTERVAL" envDefault:"2s" help:"how often the delivery worker looks for mail queued by other instances or due for a retry"`
	MailWorker                 bool          `env:"MAIL_WORKER" envDefault:"true" help:"run the mail delivery worker in this instance (any number of instances may)"`
	LogLevel                   string        `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat                  string        `env:"LOG_FORMAT" envDefault:"auto" help:"json, text, or auto (text on a terminal, else json)"`
	AccessLog                  bool          `env:"ACCESS_LOG" envDefault:"true" help:"log one line per request at info (method, route, status, latency, client address, user id); false leaves them out, e.g. where a proxy in front logs requests already"`
	KeepConnBuffers            bool          `env:"KEEP_CONN_BUFFERS" envDefault:"false" help:"keep each kept-alive connection's read buffer (96 KiB) and write buffer between its requests: about 7-10% less CPU per request, about 100 KiB per open connection even when idle; only behind a proxy that holds a few connections open, never facing clients directly"`
	TokenCacheSize             int           `env:"TOKEN_CACHE_SIZE" envDefault:"8192" help:"verified access tokens each instance remembers, by their exact bytes and never past exp, to skip the signature check (0: off)"`
	SessionCacheSize           int           `env:"SESSION_CACHE_SIZE" envDefault:"10000" help:"sessions each instance caches where every change is seen at once: SQLite (data_version), standalone Redis (client tracking behind a PING barrier), PostgreSQL (LISTEN/NOTIFY behind a query barrier); never MySQL, Redis Cluster or Sentinel (0: off)"`
	UserCacheSize              int           `env:"USER_CACHE_SIZE" envDefault:"10000" help:"users each instance caches by id where every change is seen at once: SQLite (data_version), PostgreSQL (LISTEN/NOTIFY behind a query barrier); never MySQL (0: off)"`
	MemoryLimitMiB             int           `env:"MEMORY_LIMIT_MIB" help:"soft memory limit of the Go runtime in MiB, which bounds the heap around the password hasher's working sets (default: 24 + ARGON2_MEMORY × cores, at least 32; GOMEMLIMIT, when set, wins; -1: none)"`
	ReleaseStartPages          bool          `env:"RELEASE_START_PAGES" envDefault:"true" help:"once started, give the executable's resident code pages back to the kernel (Linux), so that only those serving requests uses are resident again (about 15 MB less); false keeps them"`
	PasswordQueue              int           `env:"PASSWORD_QUEUE" help:"password hashes that may wait for a core; beyond them login and register answer 503 with Retry-After (default: 32 per core)"`
	Compat                     string        `env:"COMPAT" help:"also serve another API's routes and shapes: seed (the seed tutorials' signup/signin/signout, plain-text /api/test/*, GET /api/auth/refresh); empty for none"`
	Telemetry                  string        `env:"TELEMETRY" envDefault:"on" help:"on, or off to leave metrics and tracing out altogether (no /metrics, no store or hash timings; to measure their cost)"`
	MetricsAddr                string        `env:"METRICS_ADDR" help:"serve GET /metrics on this address (an internal port) instead of on ADDR"`
	Pprof                      bool          `env:"PPROF" envDefault:"false" help:"also serve the Go runtime's profiles (/debug/pprof/: CPU, heap, goroutines) on METRICS_ADDR's internal listener, never on ADDR; needs METRICS_ADDR"`
	OTLPEndpoint               string        `env:"OTLP_ENDPOINT" secret:"url" help:"OTLP/HTTP base URL (e.g. http://collector:4318) to export traces to; set, it turns tracing on (default: the standard OTEL_EXPORTER_OTLP_ENDPOINT)"`
}

// Setting describes one variable for `portcullis config`.
type Setting struct {
	Name    string
	Default string
	Help    string
}

// Settings lists every variable with its default and purpose, in declaration order.
func Settings() []Setting {
	params, err := env.GetFieldParamsWithOptions(&Config{}, env.Options{Prefix: Prefix})
	if err != nil {
		panic(err) // the struct is static; a bad tag is a programming error caught by tests
	}
	// Match help to params by variable name, not position, so a field without an env tag
	// cannot shift every help text onto the wrong variable.
	help := map[string]string{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		help[strings.Split(f.Tag.Get("env"), ",")[0]] = f.Tag.Get("help")
	}
	out := make([]Setting, 0, len(params))
	for _, p := range params {
		out = append(out, Setting{Name: p.Key, Default: p.DefaultValue, Help: help[p.OwnKey]})
	}
	return out
}

// Known reports whether name is one of the settings.
func Known(name string) bool {
	for _, s := range Settings() {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Parsers are the readings of settings whose format an adapter owns. config imports no adapter
// (docs/architecture.md, "The dependency rule"), so the composition root passes the adapters'
// own (cmd/portcullis/app.Parsers): each format is written once, in its adapter, and still
// checked here, at start, with every other setting.
type Parsers struct {
	// DatabaseKind names the engine of a DATABASE_URL ("sqlite", "mysql" or "postgres"), or
	// says why the URL names none (sqlstore.KindOf).
	DatabaseKind func(databaseURL string) (string, error)
	// RedisURL says whether a Redis SESSION_STORE URL speaks TLS, or why it is no Redis URL
	// (redisstore.KindOf).
	RedisURL func(redisURL string) (tls bool, err error)
	// JWTAlg says whether JWT_ALG is an algorithm the token signer supports (jwxtoken.CheckAlg).
	JWTAlg func(alg string) error
	// Leeway says whether LEEWAY is a clock skew the token verifier allows (jwxtoken.CheckLeeway).
	Leeway func(d time.Duration) error
	// JWTSecret and JWTKeyFile say whether JWT_SECRET (decoded) and JWT_KEY_FILE fit JWT_ALG
	// (jwxtoken.CheckSecret, CheckKeyFile): which algorithm signs with what is the signer's rule.
	JWTSecret  func(alg string, secret []byte) error
	JWTKeyFile func(alg, keyFile string) error
	// PasswordHash, Argon2Memory, Argon2Time, Argon2Threads and BcryptCost check the password
	// hashing settings of the same names (password.CheckAlgorithm, CheckMemory, CheckTime,
	// CheckThreads, CheckBcryptCost): the floors are the hasher's.
	PasswordHash  func(alg string) error
	Argon2Memory  func(kib uint32) error
	Argon2Time    func(passes uint32) error
	Argon2Threads func(threads uint8) error
	BcryptCost    func(cost int) error
	// PasskeyOrigins and PasskeyRPID check PASSKEY_ORIGINS and PASSKEY_RP_ID (against the
	// origins) by WebAuthn's rules (passkey.CheckOrigins, CheckRPID).
	PasskeyOrigins func(origins []string) error
	PasskeyRPID    func(rpID string, origins []string) error
}

// Load reads the environment into a Config, fills derived defaults and validates it, reading
// the adapters' formats with p. The error lists every problem, each naming its variable.
func Load(p Parsers) (Config, error) {
	return LoadFrom(os.Environ(), p)
}

// LoadFrom is Load over an explicit environment (KEY=VALUE strings), for tests.
func LoadFrom(environ []string, p Parsers) (Config, error) {
	vars := env.ToMap(environ)
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Prefix: Prefix, Environment: vars})
	problems := emptyButDefaulted(vars)
	if err != nil {
		parsed, unparsed := parseProblems(err, vars)
		problems = append(problems, parsed...)
		if len(unparsed) == 0 {
			return c, errors.Join(problems...)
		}
		// Parse again with the defaults standing in for the values that did not parse, so that
		// Validate can report every other problem at the same time.
		for _, name := range unparsed {
			delete(vars, name)
		}
		c = Config{}
		if err := env.ParseWithOptions(&c, env.Options{Prefix: Prefix, Environment: vars}); err != nil {
			more, _ := parseProblems(err, vars)
			return c, errors.Join(append(problems, more...)...)
		}
	}
	// The standard OpenTelemetry variable turns tracing on too.
	c.OTLPEndpoint = cmp.Or(c.OTLPEndpoint, vars["OTEL_EXPORTER_OTLP_ENDPOINT"])
	c.fillDefaults()
	return c, errors.Join(append(problems, c.Validate(p))...)
}

// emptyButDefaulted reports each setting with a default whose variable is set to "": the env
// library reads such a value as unset and quietly takes the default, which is seldom what
// PORTCULLIS_AUDIENCE= meant.
func emptyButDefaulted(vars map[string]string) (problems []error) {
	for _, s := range Settings() {
		if v, set := vars[s.Name]; set && v == "" && s.Default != "" {
			problems = append(problems, fmt.Errorf("%s: is set but empty; unset it for the default (%s)", s.Name, s.Default))
		}
	}
	return problems
}

// parseProblems turns the env library's errors into errors that name the variable (the library
// names the Go field), and returns the variables whose values did not parse.
func parseProblems(err error, vars map[string]string) (problems []error, unparsed []string) {
	errs := []error{err}
	var agg env.AggregateError
	if errors.As(err, &agg) {
		errs = agg.Errors
	}
	t := reflect.TypeFor[Config]()
	for _, e := range errs {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			problems = append(problems, e)
			continue
		}
		f, ok := t.FieldByName(pe.Name)
		if !ok {
			problems = append(problems, e)
			continue
		}
		name := Prefix + strings.Split(f.Tag.Get("env"), ",")[0]
		problems = append(problems, fmt.Errorf("%s: cannot parse %q as %s: %w", name, vars[name], pe.Type, pe.Err))
		unparsed = append(unparsed, name)
	}
	return problems, unparsed
}

func (c *Config) fillDefaults() {
	// "a, b" is as natural to write as "a,b".
	c.AllowedOrigins = trimList(c.AllowedOrigins)
	c.TrustedProxies = trimList(c.TrustedProxies)
	if c.DatabaseURL == "" {
		c.DatabaseURL = c.defaultDatabaseURL()
	}
	if c.Issuer == "" {
		// The issuer names the service, not where one instance listens: without PUBLIC_URL it
		// stays the same whatever ADDR's port, so instances on different ports (and a restart
		// on another port) accept each other's tokens.
		c.Issuer = cmp.Or(c.PublicURL, defaultIssuer)
	}
	if c.PublicURL == "" {
		// The listen port, so that changing only ADDR keeps links and browser writes working.
		port := "8080"
		if _, p, err := net.SplitHostPort(c.Addr); err == nil && p != "" && p != "0" {
			port = p
		}
		c.PublicURL = "http://localhost:" + port
	}
	if c.MailFrom == "" {
		host := "localhost"
		if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		c.MailFrom = c.ProductName + " <no-reply@" + host + ">"
	}
	c.PasskeyOrigins = trimList(c.PasskeyOrigins)
	// A PUBLIC_URL whose port no browser sends gives no origins (its rule names it alone).
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme != "" && u.Host != "" && originPort(u) == nil {
		if c.PasskeyRPID == "" {
			c.PasskeyRPID = u.Hostname()
		}
		if len(c.PasskeyOrigins) == 0 {
			c.PasskeyOrigins = []string{u.Scheme + "://" + u.Host}
		}
	}
	if len(c.AllowedOrigins) == 0 {
		if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme != "" && u.Host != "" && originPort(u) == nil {
			c.AllowedOrigins = []string{u.Scheme + "://" + u.Host}
		}
	}
}

// defaultDatabaseURL is the SQLite database in DATA_DIR, used when DATABASE_URL is unset.
func (c *Config) defaultDatabaseURL() string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "portcullis.db"))
}

// DatabaseInDataDir reports whether the database is the default SQLite one in DATA_DIR
// (DATABASE_URL unset, or set to the same).
func (c Config) DatabaseInDataDir() bool { return c.DatabaseURL == c.defaultDatabaseURL() }

// KeyEncryptionKeyFile is the file in DATA_DIR that keeps the key-encryption key the service
// generated on its first start, when KEY_ENCRYPTION_KEY is unset.
const KeyEncryptionKeyFile = "key-encryption-key"

// UsesDataDir reports whether the service keeps anything in DATA_DIR: the default SQLite
// database, or a generated key-encryption key (when KEY_ENCRYPTION_KEY is unset).
func (c Config) UsesDataDir() bool { return c.DatabaseInDataDir() || c.KeyEncryptionKey == "" }

// trimList trims spaces around each item and drops empty ones.
func trimList(items []string) []string {
	out := items[:0]
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// RedactURL hides any password in a URL, for logs and messages, also in one that net/url
// cannot parse (a mysql:// URL naming several servers, host1:3306,host2:3306). A value that is
// not a URL is returned as it is.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme == "" {
		return raw
	}
	if err == nil {
		return u.Redacted()
	}
	scheme, rest, found := strings.Cut(raw, "://")
	at := strings.LastIndex(rest, "@")
	if !found || at < 0 {
		return raw
	}
	if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
		return scheme + "://" + user + ":xxxxx" + rest[at:]
	}
	return raw
}

// shortDuration writes d as a person would: 15m, 168h, 1h30m, 0.
func shortDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
