package config_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
)

// parsers are the adapters' readings config checks their settings with: the very table
// cmd/portcullis/app passes at start.
var parsers = app.Parsers

func TestDefaultsLoadFromEmptyEnvironment(t *testing.T) {
	c, err := config.LoadFrom(nil, parsers)
	if err != nil {
		t.Fatalf("LoadFrom(nil): %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, ":8080"},
		{"DataDir", c.DataDir, "./data"},
		{"DatabaseURL", c.DatabaseURL, "sqlite://data/portcullis.db"},
		{"SessionStore", c.SessionStore, "sql"},
		{"AutoMigrate", c.AutoMigrate, true},
		{"PublicURL", c.PublicURL, "http://localhost:8080"},
		{"Issuer", c.Issuer, "http://localhost:8080"},
		{"Audience", c.Audience, "portcullis"},
		{"JWTAlg", c.JWTAlg, "EdDSA"},
		{"AccessTTL", c.AccessTTL, 15 * time.Minute},
		{"Leeway", c.Leeway, 30 * time.Second},
		{"SessionIdle", c.SessionIdle, 168 * time.Hour},
		{"SessionAbsolute", c.SessionAbsolute, 720 * time.Hour},
		{"RefreshGrace", c.RefreshGrace, 10 * time.Second},
		{"StrictSessions", c.StrictSessions, true},
		{"AllowedOrigins", c.AllowedOrigins, []string{"http://localhost:8080"}},
		{"SecureCookies", c.SecureCookies, false},
		{"TrustedProxies", c.TrustedProxies, []string(nil)},
		{"PasswordHash", c.PasswordHash, "argon2id"},
		{"Argon2Memory", c.Argon2Memory, uint32(19456)},
		{"Argon2Time", c.Argon2Time, uint32(2)},
		{"Argon2Threads", c.Argon2Threads, uint8(1)},
		{"BcryptCost", c.BcryptCost, 12},
		{"BodyLimit", c.BodyLimit, 16384},
		{"RequestTimeout", c.RequestTimeout, 10 * time.Second},
		{"ShutdownTimeout", c.ShutdownTimeout, 20 * time.Second},
		{"DBMaxOpenConns", c.DBMaxOpenConns, 0},
		{"DBConnectTimeout", c.DBConnectTimeout, 5 * time.Second},
		{"RedisPoolSize", c.RedisPoolSize, 0},
		{"RedisKeyPrefix", c.RedisKeyPrefix, ""},
		{"RedisWaitReplicas", c.RedisWaitReplicas, 0},
		{"RedisWaitTimeout", c.RedisWaitTimeout, time.Second},
		{"LogLevel", c.LogLevel, "info"},
		{"LogFormat", c.LogFormat, "auto"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if kind, err := parsers.DatabaseKind(c.DatabaseURL); err != nil || kind != "sqlite" {
		t.Errorf("DatabaseKind(default) = %q, %v; want sqlite", kind, err)
	}
}

func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv("PORTCULLIS_ADDR", ":9999")
	t.Setenv("ADDR", ":1") // unprefixed variables are not ours
	c, err := config.Load(parsers)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != ":9999" {
		t.Fatalf("Addr = %q, want :9999", c.Addr)
	}
}

func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name        string
		env         []string
		wantDB      string
		wantIssuer  string
		wantOrigins []string
	}{
		{
			name:        "database under data dir, issuer and origin from public URL",
			env:         []string{"PORTCULLIS_DATA_DIR=/var/lib/portcullis", "PORTCULLIS_PUBLIC_URL=https://auth.example.com:8443/base/path"},
			wantDB:      "sqlite:///var/lib/portcullis/portcullis.db",
			wantIssuer:  "https://auth.example.com:8443/base/path",
			wantOrigins: []string{"https://auth.example.com:8443"},
		},
		{
			name: "explicit values are kept",
			env: []string{
				"PORTCULLIS_DATA_DIR=/var/lib/portcullis",
				"PORTCULLIS_DATABASE_URL=mysql://u:p@db:3306/portcullis",
				"PORTCULLIS_ISSUER=https://issuer.example.com",
				"PORTCULLIS_ALLOWED_ORIGINS=https://a.example.com, https://b.example.com",
			},
			wantDB:      "mysql://u:p@db:3306/portcullis",
			wantIssuer:  "https://issuer.example.com",
			wantOrigins: []string{"https://a.example.com", "https://b.example.com"},
		},
		{
			// Unlike an all-space one, an empty ISSUER is the documented default.
			name:        "issuer set but empty is the public URL",
			env:         []string{"PORTCULLIS_ISSUER=", "PORTCULLIS_PUBLIC_URL=https://auth.example.com"},
			wantDB:      "sqlite://data/portcullis.db",
			wantIssuer:  "https://auth.example.com",
			wantOrigins: []string{"https://auth.example.com"},
		},
		{
			name:        "blank origins list falls back to the public URL's origin",
			env:         []string{"PORTCULLIS_ALLOWED_ORIGINS= , "},
			wantDB:      "sqlite://data/portcullis.db",
			wantIssuer:  "http://localhost:8080",
			wantOrigins: []string{"http://localhost:8080"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.LoadFrom(tt.env, parsers)
			if err != nil {
				t.Fatalf("LoadFrom: %v", err)
			}
			if c.DatabaseURL != tt.wantDB {
				t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, tt.wantDB)
			}
			if c.Issuer != tt.wantIssuer {
				t.Errorf("Issuer = %q, want %q", c.Issuer, tt.wantIssuer)
			}
			if !slices.Equal(c.AllowedOrigins, tt.wantOrigins) {
				t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, tt.wantOrigins)
			}
		})
	}
}

func secret(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

func TestValidValues(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
	}{
		{"HS256 with a 32-byte secret", []string{"PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=" + secret(32)}},
		{"readable key file", []string{"PORTCULLIS_JWT_ALG=ES256", "PORTCULLIS_JWT_KEY_FILE=" + keyFile}},
		{"redis session store", []string{"PORTCULLIS_SESSION_STORE=redis://127.0.0.1:6379/0"}},
		{"rediss session store", []string{"PORTCULLIS_SESSION_STORE=rediss://user:pw@redis.example.com:6380/1"}},
		{"memory session store", []string{"PORTCULLIS_SESSION_STORE=memory"}},
		{"postgres database", []string{"PORTCULLIS_DATABASE_URL=postgres://u:p@db:5432/portcullis?sslmode=disable"}},
		{"bare sqlite path", []string{"PORTCULLIS_DATABASE_URL=/tmp/p.db"}},
		{"proxies, IPs and CIDRs with spaces", []string{"PORTCULLIS_TRUSTED_PROXIES=10.0.0.0/8, 192.168.1.1 ,::1,fd00::/8"}},
		{"origins with ports at both ends", []string{"PORTCULLIS_ALLOWED_ORIGINS=http://localhost:1, https://app.example.com:65535, http://[::1]:3000"}},
		{"shutdown timeout equal to request timeout", []string{"PORTCULLIS_REQUEST_TIMEOUT=30s", "PORTCULLIS_SHUTDOWN_TIMEOUT=30s"}},
		{"idle equal to absolute", []string{"PORTCULLIS_SESSION_IDLE=24h", "PORTCULLIS_SESSION_ABSOLUTE=24h"}},
		{"key encryption key", []string{"PORTCULLIS_KEY_ENCRYPTION_KEY=" + secret(32)}},
		{"bcrypt", []string{"PORTCULLIS_PASSWORD_HASH=bcrypt", "PORTCULLIS_BCRYPT_COST=10"}},
		{"database pool and timeouts", []string{"PORTCULLIS_DB_MAX_OPEN_CONNS=50", "PORTCULLIS_DB_MAX_IDLE_CONNS=10",
			"PORTCULLIS_DB_CONN_MAX_LIFETIME=1h", "PORTCULLIS_DB_CONNECT_TIMEOUT=2s"}},
		{"mysql with a CA file", []string{"PORTCULLIS_DATABASE_URL=mysql://u@db:3306/p?tls=true", "PORTCULLIS_DB_TLS_CA_FILE=" + keyFile}},
		{"redis pool, timeouts and prefix", []string{"PORTCULLIS_SESSION_STORE=redis://127.0.0.1:6379/0", "PORTCULLIS_REDIS_POOL_SIZE=32",
			"PORTCULLIS_REDIS_DIAL_TIMEOUT=1s", "PORTCULLIS_REDIS_READ_TIMEOUT=500ms", "PORTCULLIS_REDIS_WRITE_TIMEOUT=500ms",
			"PORTCULLIS_REDIS_KEY_PREFIX=eu-west:"}},
		{"rediss with a CA file", []string{"PORTCULLIS_SESSION_STORE=rediss://redis:6380/0", "PORTCULLIS_REDIS_TLS_CA_FILE=" + keyFile}},
		{"redis cluster waiting for a replica", []string{"PORTCULLIS_SESSION_STORE=redis+cluster://10.0.0.1:6379,10.0.0.2:6379",
			"PORTCULLIS_REDIS_WAIT_REPLICAS=1", "PORTCULLIS_REDIS_WAIT_TIMEOUT=500ms", "PORTCULLIS_REDIS_READ_TIMEOUT=2s"}},
		{"redis sentinel session store", []string{"PORTCULLIS_SESSION_STORE=redis+sentinel://u:pw@10.0.0.1:26379,10.0.0.2:26379/mymaster/1?sentinel_password=sp"}},
		{"profiles on the metrics listener", []string{"PORTCULLIS_METRICS_ADDR=127.0.0.1:9090", "PORTCULLIS_PPROF=true"}},
		{"rediss sentinel with a CA file", []string{"PORTCULLIS_SESSION_STORE=rediss+sentinel://s1:26379,s2:26379/mymaster", "PORTCULLIS_REDIS_TLS_CA_FILE=" + keyFile}},
		{"passkeys on a parent domain", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=example.com",
			"PORTCULLIS_PASSKEY_ORIGINS=https://app.example.com, https://auth.example.com"}},
		{"passkeys on the public URL's host", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=auth.example.com"}},
		{"passkeys off on an IP address", []string{"PORTCULLIS_PUBLIC_URL=http://127.0.0.1:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := config.LoadFrom(tt.env, parsers); err != nil {
				t.Fatalf("LoadFrom(%q): %v", tt.env, err)
			}
		})
	}
}

// problems splits a joined error into its lines, one per problem.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestEachInvalidValueNamesItsVariable(t *testing.T) {
	unreadableDir := t.TempDir()
	tests := []struct {
		name    string
		env     []string
		wantVar string // every reported problem must start with this variable
	}{
		{"bad duration", []string{"PORTCULLIS_ACCESS_TTL=abc"}, "ACCESS_TTL"},
		{"zero duration", []string{"PORTCULLIS_ACCESS_TTL=0s"}, "ACCESS_TTL"},
		{"negative timeout", []string{"PORTCULLIS_REQUEST_TIMEOUT=-1s"}, "REQUEST_TIMEOUT"},
		{"bad bool", []string{"PORTCULLIS_AUTO_MIGRATE=maybe"}, "AUTO_MIGRATE"},
		{"uint8 out of range", []string{"PORTCULLIS_ARGON2_THREADS=300"}, "ARGON2_THREADS"},
		{"alg none", []string{"PORTCULLIS_JWT_ALG=none"}, "JWT_ALG"},
		{"missing key file", []string{"PORTCULLIS_JWT_KEY_FILE=/nonexistent/portcullis/key.pem"}, "JWT_KEY_FILE"},
		{"key file is a directory", []string{"PORTCULLIS_JWT_KEY_FILE=" + unreadableDir}, "JWT_KEY_FILE"},
		{"key file with HS256", []string{"PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=" + secret(32), "PORTCULLIS_JWT_KEY_FILE=/etc/hostname"}, "JWT_KEY_FILE"},
		{"HS256 without secret", []string{"PORTCULLIS_JWT_ALG=HS256"}, "JWT_SECRET"},
		{"HS256 with short secret", []string{"PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=" + secret(31)}, "JWT_SECRET"},
		{"HS256 with non-base64 secret", []string{"PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=not base64 at all but long enough!!"}, "JWT_SECRET"},
		{"secret without HS256", []string{"PORTCULLIS_JWT_SECRET=" + secret(32)}, "JWT_SECRET"},
		{"short key encryption key", []string{"PORTCULLIS_KEY_ENCRYPTION_KEY=" + secret(16)}, "KEY_ENCRYPTION_KEY"},
		{"origin with path", []string{"PORTCULLIS_ALLOWED_ORIGINS=https://app.example.com/app"}, "ALLOWED_ORIGINS"},
		{"origin wildcard", []string{"PORTCULLIS_ALLOWED_ORIGINS=*"}, "ALLOWED_ORIGINS"},
		{"origin without scheme", []string{"PORTCULLIS_ALLOWED_ORIGINS=app.example.com"}, "ALLOWED_ORIGINS"},
		{"origin not http", []string{"PORTCULLIS_ALLOWED_ORIGINS=ftp://app.example.com"}, "ALLOWED_ORIGINS"},
		{"origin with port 0", []string{"PORTCULLIS_ALLOWED_ORIGINS=https://app.example.com:0"}, "ALLOWED_ORIGINS"},
		{"origin with port above 65535", []string{"PORTCULLIS_ALLOWED_ORIGINS=https://app.example.com, https://app.example.com:65536"}, "ALLOWED_ORIGINS"},
		{"origin with an empty port", []string{"PORTCULLIS_ALLOWED_ORIGINS=http://[::1]:"}, "ALLOWED_ORIGINS"},
		{"origin with the default https port", []string{"PORTCULLIS_ALLOWED_ORIGINS=https://app.example.com:443"}, "ALLOWED_ORIGINS"},
		{"origin with the default http port", []string{"PORTCULLIS_ALLOWED_ORIGINS=http://app.example.com:80"}, "ALLOWED_ORIGINS"},
		{"public URL with port above 65535", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com:99999"}, "PUBLIC_URL"},
		{"public URL with the default port", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com:443/"}, "PUBLIC_URL"},
		{"bad proxy CIDR", []string{"PORTCULLIS_TRUSTED_PROXIES=10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{"bad proxy address", []string{"PORTCULLIS_TRUSTED_PROXIES=proxy.internal"}, "TRUSTED_PROXIES"},
		{"unknown database scheme", []string{"PORTCULLIS_DATABASE_URL=mongodb://db:27017/portcullis"}, "DATABASE_URL"},
		{"session store junk", []string{"PORTCULLIS_SESSION_STORE=junk"}, "SESSION_STORE"},
		{"session store bare redis host", []string{"PORTCULLIS_SESSION_STORE=127.0.0.1:6379"}, "SESSION_STORE"},
		{"idle above absolute", []string{"PORTCULLIS_SESSION_IDLE=721h"}, "SESSION_IDLE"},
		{"absolute below idle", []string{"PORTCULLIS_SESSION_ABSOLUTE=1h"}, "SESSION_IDLE"},
		{"public URL not absolute", []string{"PORTCULLIS_PUBLIC_URL=/auth", "PORTCULLIS_ALLOWED_ORIGINS=https://a.example.com"}, "PUBLIC_URL"},
		// Links are PUBLIC_URL + path + token: a query or fragment would swallow the path and
		// token, user info would be mailed to every user.
		{"public URL with a query", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com/?tenant=a"}, "PUBLIC_URL"},
		{"public URL with an empty query", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com/?"}, "PUBLIC_URL"},
		{"public URL with a fragment", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com/#/app"}, "PUBLIC_URL"},
		{"public URL with an empty fragment", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com/#"}, "PUBLIC_URL"},
		{"public URL with user info", []string{"PORTCULLIS_PUBLIC_URL=https://ops:hunter2@auth.example.com"}, "PUBLIC_URL"},
		{"leeway too large", []string{"PORTCULLIS_LEEWAY=10m"}, "LEEWAY"},
		{"refresh grace too large", []string{"PORTCULLIS_REFRESH_GRACE=2m"}, "REFRESH_GRACE"},
		{"unknown password hash", []string{"PORTCULLIS_PASSWORD_HASH=md5"}, "PASSWORD_HASH"},
		{"argon2 memory too small", []string{"PORTCULLIS_ARGON2_MEMORY_KIB=1024"}, "ARGON2_MEMORY_KIB"},
		{"argon2 time too small", []string{"PORTCULLIS_ARGON2_TIME=1"}, "ARGON2_TIME"},
		{"argon2 threads zero", []string{"PORTCULLIS_ARGON2_THREADS=0"}, "ARGON2_THREADS"},
		{"bcrypt cost too small", []string{"PORTCULLIS_BCRYPT_COST=4"}, "BCRYPT_COST"},
		{"body limit too small", []string{"PORTCULLIS_BODY_LIMIT=12"}, "BODY_LIMIT"},
		{"unknown log level", []string{"PORTCULLIS_LOG_LEVEL=verbose"}, "LOG_LEVEL"},
		{"unknown log format", []string{"PORTCULLIS_LOG_FORMAT=xml"}, "LOG_FORMAT"},
		{"negative open conns", []string{"PORTCULLIS_DB_MAX_OPEN_CONNS=-1"}, "DB_MAX_OPEN_CONNS"},
		{"open conns not a number", []string{"PORTCULLIS_DB_MAX_OPEN_CONNS=many"}, "DB_MAX_OPEN_CONNS"},
		{"idle above open conns", []string{"PORTCULLIS_DB_MAX_OPEN_CONNS=5", "PORTCULLIS_DB_MAX_IDLE_CONNS=6"}, "DB_MAX_IDLE_CONNS"},
		{"negative conn lifetime", []string{"PORTCULLIS_DB_CONN_MAX_LIFETIME=-1m"}, "DB_CONN_MAX_LIFETIME"},
		{"zero connect timeout", []string{"PORTCULLIS_DB_CONNECT_TIMEOUT=0s"}, "DB_CONNECT_TIMEOUT"},
		{"negative connect timeout", []string{"PORTCULLIS_DB_CONNECT_TIMEOUT=-1s"}, "DB_CONNECT_TIMEOUT"},
		{"db CA file with sqlite", []string{"PORTCULLIS_DB_TLS_CA_FILE=/etc/hostname"}, "DB_TLS_CA_FILE"},
		{"missing db CA file", []string{"PORTCULLIS_DATABASE_URL=mysql://u@db/p", "PORTCULLIS_DB_TLS_CA_FILE=/nonexistent/ca.pem"}, "DB_TLS_CA_FILE"},
		{"negative redis pool", []string{"PORTCULLIS_REDIS_POOL_SIZE=-2"}, "REDIS_POOL_SIZE"},
		{"negative redis dial timeout", []string{"PORTCULLIS_REDIS_DIAL_TIMEOUT=-1s"}, "REDIS_DIAL_TIMEOUT"},
		{"negative redis read timeout", []string{"PORTCULLIS_REDIS_READ_TIMEOUT=-1s"}, "REDIS_READ_TIMEOUT"},
		{"negative redis write timeout", []string{"PORTCULLIS_REDIS_WRITE_TIMEOUT=-1s"}, "REDIS_WRITE_TIMEOUT"},
		{"hash tag in redis prefix", []string{"PORTCULLIS_REDIS_KEY_PREFIX={eu}:"}, "REDIS_KEY_PREFIX"},
		{"redis CA file without rediss", []string{"PORTCULLIS_SESSION_STORE=redis://r:6379/0", "PORTCULLIS_REDIS_TLS_CA_FILE=/etc/hostname"}, "REDIS_TLS_CA_FILE"},
		{"redis sentinel CA file without TLS", []string{"PORTCULLIS_SESSION_STORE=redis+sentinel://s1:26379/m", "PORTCULLIS_REDIS_TLS_CA_FILE=/etc/hostname"}, "REDIS_TLS_CA_FILE"},
		{"missing redis CA file", []string{"PORTCULLIS_SESSION_STORE=rediss://r:6380/0", "PORTCULLIS_REDIS_TLS_CA_FILE=/nonexistent/ca.pem"}, "REDIS_TLS_CA_FILE"},
		{"negative redis wait replicas", []string{"PORTCULLIS_SESSION_STORE=redis://r:6379/0", "PORTCULLIS_REDIS_WAIT_REPLICAS=-1"}, "REDIS_WAIT_REPLICAS"},
		{"redis wait replicas without redis", []string{"PORTCULLIS_REDIS_WAIT_REPLICAS=1"}, "REDIS_WAIT_REPLICAS"},
		{"zero redis wait timeout", []string{"PORTCULLIS_SESSION_STORE=redis://r:6379/0", "PORTCULLIS_REDIS_WAIT_REPLICAS=1", "PORTCULLIS_REDIS_WAIT_TIMEOUT=0s"}, "REDIS_WAIT_TIMEOUT"},
		{"profiles without a metrics listener", []string{"PORTCULLIS_PPROF=true"}, "PPROF"},
		{"passkey origin not an origin", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_ORIGINS=not-an-origin"}, "PASSKEY_ORIGINS"},
		{"passkey origin with a path", []string{"PORTCULLIS_PASSKEY_ORIGINS=http://localhost:8080/app"}, "PASSKEY_ORIGINS"},
		{"passkey RP id not a domain", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=auth.example.com/x"}, "PASSKEY_RP_ID"},
		{"passkey RP id of another site", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=evil.com"}, "PASSKEY_RP_ID"},
		{"passkey RP id a public suffix", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=com"}, "PASSKEY_RP_ID"},
		{"passkey RP id below the public URL's host", []string{"PORTCULLIS_PUBLIC_URL=https://example.com", "PORTCULLIS_PASSKEY_RP_ID=auth.example.com"}, "PASSKEY_RP_ID"},
		{"passkey RP id not above every origin", []string{"PORTCULLIS_PUBLIC_URL=https://auth.example.com", "PORTCULLIS_PASSKEY_RP_ID=example.com",
			"PORTCULLIS_PASSKEY_ORIGINS=https://app.example.com,https://app.example.org"}, "PASSKEY_RP_ID"},
		{"data dir that cannot be made", []string{"PORTCULLIS_DATA_DIR=/proc/nonexistent/x"}, "DATA_DIR"},
		{"data dir below a file", []string{"PORTCULLIS_DATA_DIR=/etc/hostname/data"}, "DATA_DIR"},
		{"audience set but empty", []string{"PORTCULLIS_AUDIENCE="}, "AUDIENCE"},
		{"product name set but empty", []string{"PORTCULLIS_PRODUCT_NAME="}, "PRODUCT_NAME"},
		{"request timeout set but empty", []string{"PORTCULLIS_REQUEST_TIMEOUT="}, "REQUEST_TIMEOUT"},
		{"redis wait timeout past read timeout", []string{"PORTCULLIS_SESSION_STORE=redis://r:6379/0", "PORTCULLIS_REDIS_WAIT_REPLICAS=1", "PORTCULLIS_REDIS_WAIT_TIMEOUT=3s", "PORTCULLIS_REDIS_READ_TIMEOUT=2s"}, "REDIS_WAIT_TIMEOUT"},
		{"redis wait timeout past request timeout", []string{"PORTCULLIS_SESSION_STORE=redis://r:6379/0", "PORTCULLIS_REDIS_WAIT_REPLICAS=1", "PORTCULLIS_REDIS_WAIT_TIMEOUT=2s", "PORTCULLIS_REDIS_READ_TIMEOUT=10s", "PORTCULLIS_REQUEST_TIMEOUT=2s"}, "REDIS_WAIT_TIMEOUT"},
		// A SIGTERM must let a request in flight finish (docs/security.md H58), which may take
		// REQUEST_TIMEOUT.
		{"shutdown timeout below request timeout", []string{"PORTCULLIS_SHUTDOWN_TIMEOUT=5s"}, "SHUTDOWN_TIMEOUT"},
		{"request timeout past shutdown timeout", []string{"PORTCULLIS_REQUEST_TIMEOUT=30s"}, "SHUTDOWN_TIMEOUT"},
		// iss and aud are compared exactly: a space a relying party does not expect fails every
		// token there, while the service itself keeps accepting them.
		{"issuer all spaces", []string{"PORTCULLIS_ISSUER=   "}, "ISSUER"},
		{"issuer with a trailing space", []string{"PORTCULLIS_ISSUER=https://auth.example.com "}, "ISSUER"},
		{"issuer with a leading tab", []string{"PORTCULLIS_ISSUER=\thttps://auth.example.com"}, "ISSUER"},
		{"audience all spaces", []string{"PORTCULLIS_AUDIENCE=  "}, "AUDIENCE"},
		{"audience with a leading space", []string{"PORTCULLIS_AUDIENCE= portcullis"}, "AUDIENCE"},
		{"audience with a trailing newline", []string{"PORTCULLIS_AUDIENCE=portcullis\n"}, "AUDIENCE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadFrom(tt.env, parsers)
			if err == nil {
				t.Fatalf("LoadFrom(%q) = nil error, want one naming %s", tt.env, tt.wantVar)
			}
			for _, p := range problems(err) {
				if !strings.HasPrefix(p, config.Prefix+tt.wantVar+": ") {
					t.Errorf("problem %q does not name %s%s", p, config.Prefix, tt.wantVar)
				}
			}
		})
	}
}

// TestDataDirCheckLeavesNothing: checking that DATA_DIR can be made and written (as config
// check does) creates neither the directory nor anything in its nearest existing parent.
func TestDataDirCheckLeavesNothing(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "a", "b")
	if _, err := config.LoadFrom([]string{"PORTCULLIS_DATA_DIR=" + dir}, parsers); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadFrom([]string{"PORTCULLIS_DATA_DIR=" + parent}, parsers); err != nil {
		t.Fatal(err)
	}
	if left, err := os.ReadDir(parent); err != nil || len(left) != 0 {
		t.Fatalf("the check left %v in %s (%v)", left, parent, err)
	}
}

func TestDatabaseURLErrorHidesPassword(t *testing.T) {
	_, err := config.LoadFrom([]string{"PORTCULLIS_DATABASE_URL=mongodb://admin:hunter2@db/portcullis"}, parsers)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v, want an error without the password", err)
	}
}

func TestAllProblemsReportedTogether(t *testing.T) {
	_, err := config.LoadFrom([]string{
		"PORTCULLIS_ACCESS_TTL=abc",      // does not parse
		"PORTCULLIS_ARGON2_THREADS=300",  // does not parse
		"PORTCULLIS_JWT_ALG=none",        // parses, fails validation
		"PORTCULLIS_SESSION_STORE=junk",  // parses, fails validation
		"PORTCULLIS_TRUSTED_PROXIES=bad", // parses, fails validation
		"PORTCULLIS_SESSION_IDLE=800h",   // parses, fails validation
	}, parsers)
	got := problems(err)
	want := []string{"ACCESS_TTL", "ARGON2_THREADS", "JWT_ALG", "SESSION_STORE", "TRUSTED_PROXIES", "SESSION_IDLE"}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d (one per bad variable):\n%s", len(got), len(want), err)
	}
	for _, name := range want {
		n := 0
		for _, p := range got {
			if strings.HasPrefix(p, config.Prefix+name+": ") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s%s reported %d times, want once:\n%s", config.Prefix, name, n, err)
		}
	}
	if !strings.Contains(err.Error(), `"abc"`) {
		t.Errorf("parse problem does not quote the bad value:\n%s", err)
	}
}

func TestSettingsDescribeEveryField(t *testing.T) {
	typ := reflect.TypeFor[config.Config]()
	settings := config.Settings()
	if len(settings) != typ.NumField() {
		t.Fatalf("Settings() has %d entries, Config has %d fields", len(settings), typ.NumField())
	}
	seen := map[string]string{}
	for i, s := range settings {
		f := typ.Field(i)
		envTag, ok := f.Tag.Lookup("env")
		if !ok || envTag == "" {
			t.Errorf("field %s has no env tag", f.Name)
			continue
		}
		help := f.Tag.Get("help")
		if strings.TrimSpace(help) == "" {
			t.Errorf("field %s has no help tag", f.Name)
		}
		wantName := config.Prefix + strings.Split(envTag, ",")[0]
		// Settings is in declaration order, and each entry carries its own field's help.
		if s.Name != wantName {
			t.Errorf("Settings()[%d].Name = %q, want %q (field %s)", i, s.Name, wantName, f.Name)
		}
		if s.Help != help {
			t.Errorf("Settings()[%d] (%s) help = %q, want %q", i, s.Name, s.Help, help)
		}
		if s.Default != f.Tag.Get("envDefault") {
			t.Errorf("Settings()[%d] (%s) default = %q, want %q", i, s.Name, s.Default, f.Tag.Get("envDefault"))
		}
		if prev, dup := seen[s.Name]; dup {
			t.Errorf("%s is used by both %s and %s", s.Name, prev, f.Name)
		}
		seen[s.Name] = f.Name
		if !config.Known(s.Name) {
			t.Errorf("Known(%q) = false", s.Name)
		}
	}
	for _, name := range []string{"PORTCULLIS_NOPE", "ADDR", ""} {
		if config.Known(name) {
			t.Errorf("Known(%q) = true, want false", name)
		}
	}
}

func TestRateSettings(t *testing.T) {
	c, err := config.LoadFrom([]string{"PORTCULLIS_RATE_LOGIN_ACCOUNT=3/30s", "PORTCULLIS_RATE_MAIL_IP=0"}, parsers)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.RateLoginAccount; r.Burst() != 3 || r.Period() != 30*time.Second || r.String() != "3/30s" {
		t.Fatalf("RATE_LOGIN_ACCOUNT=3/30s parsed as %v", r)
	}
	if c.RateMailIP.Burst() != 0 || c.RateLoginIP.String() != "20/1m0s" || c.LockDuration != 15*time.Minute || c.RateLimits != "on" {
		t.Fatalf("defaults: %+v", c)
	}
	for _, bad := range []string{"PORTCULLIS_RATE_LOGIN_IP=5", "PORTCULLIS_RATE_LOGIN_IP=x/1m", "PORTCULLIS_RATE_LOGIN_IP=5/1ms",
		"PORTCULLIS_RATE_LIMITS=maybe", "PORTCULLIS_LOCK_DURATION=-1s"} {
		name, _, _ := strings.Cut(bad, "=")
		if _, err := config.LoadFrom([]string{bad}, parsers); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming %s", bad, err, name)
		}
	}
}

// TestRedactURL: the one redaction of URLs for logs and messages hides the password, also in a
// mysql:// URL naming several servers (which net/url cannot parse), and keeps the servers.
func TestRedactURL(t *testing.T) {
	if got := config.RedactURL("mysql://u:s3cret@db1:3307,db2:3308/auth"); strings.Contains(got, "s3cret") || !strings.Contains(got, "db1:3307,db2:3308") {
		t.Fatalf("RedactURL = %q", got)
	}
	if got := config.RedactURL("postgres://u:s3cret@db/auth"); got != "postgres://u:xxxxx@db/auth" {
		t.Fatalf("RedactURL = %q", got)
	}
}

// TestRedisURLsAreReadByTheAdapter: config keeps no list of Redis schemes; SESSION_STORE,
// REDIS_WAIT_REPLICAS and REDIS_TLS_CA_FILE take what Parsers.RedisURL (redisstore.KindOf) says.
// A reading that knows one more scheme is followed, and one that refuses rediss:// is too.
func TestRedisURLsAreReadByTheAdapter(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := parsers
	other.RedisURL = func(raw string) (bool, error) {
		if strings.HasPrefix(raw, "valkeys://") {
			return true, nil
		}
		return false, errors.New("only valkeys://")
	}
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_SESSION_STORE=valkeys://v:6380/0",
		"PORTCULLIS_REDIS_WAIT_REPLICAS=1", "PORTCULLIS_REDIS_TLS_CA_FILE=" + caFile}
	if _, err := config.LoadFrom(env, other); err != nil {
		t.Errorf("a scheme the adapter reads as TLS Redis was refused: %v", err)
	}
	if _, err := config.LoadFrom(env, parsers); err == nil || !strings.Contains(err.Error(), "SESSION_STORE") {
		t.Errorf("redisstore.KindOf does not know valkeys://, yet config took it: %v", err)
	}
	env[1] = "PORTCULLIS_SESSION_STORE=rediss://r:6380/0"
	if _, err := config.LoadFrom(env, other); err == nil || !strings.Contains(err.Error(), "SESSION_STORE") {
		t.Errorf("config took rediss:// that the given reading refuses: %v", err)
	}
}

// TestTokenSettingsAreCheckedByTheAdapter: config keeps no list of JWT algorithms and no leeway
// range of its own; JWT_ALG and LEEWAY take what Parsers.JWTAlg and Parsers.Leeway
// (jwxtoken.CheckAlg, jwxtoken.CheckLeeway) say.
func TestTokenSettingsAreCheckedByTheAdapter(t *testing.T) {
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_JWT_ALG=ES512", "PORTCULLIS_LEEWAY=10m"}
	other := parsers
	other.JWTAlg = func(alg string) error {
		if alg == "ES512" {
			return nil
		}
		return errors.New("only ES512")
	}
	other.Leeway = func(time.Duration) error { return nil }
	if _, err := config.LoadFrom(env, other); err != nil {
		t.Errorf("settings the given checks take were refused: %v", err)
	}
	_, err := config.LoadFrom(env, parsers)
	for _, name := range []string{"JWT_ALG", "LEEWAY"} {
		if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_"+name+":") {
			t.Errorf("jwxtoken refuses this %s, yet config took it: %v", name, err)
		}
	}
}

// TestSigningSecretRulesAreTheSigners: which algorithm takes a secret (and how long) or a key
// file is jwxtoken's rule (CheckSecret, CheckKeyFile, through Parsers); config follows the
// check it is given and keeps none of its own.
func TestSigningSecretRulesAreTheSigners(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, jwxtoken.MinSecretLength-1))
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_JWT_ALG=HS256", "PORTCULLIS_JWT_SECRET=" + short,
		"PORTCULLIS_JWT_KEY_FILE=/etc/hostname"}
	_, err := config.LoadFrom(env, parsers)
	for _, name := range []string{"JWT_SECRET", "JWT_KEY_FILE"} {
		if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_"+name+":") {
			t.Errorf("jwxtoken refuses this %s, yet config took it: %v", name, err)
		}
	}
	other := parsers
	other.JWTSecret = func(alg string, secret []byte) error { return nil }
	other.JWTKeyFile = func(alg, keyFile string) error { return nil }
	if _, err := config.LoadFrom(env, other); err != nil {
		t.Errorf("settings the given checks take were refused: %v", err)
	}
}

// TestPasskeyRulesAreTheRelyingParty: what a passkey origin is and which relying-party ids fit
// the origins are WebAuthn's rules, written once in the passkey adapter (CheckOrigins,
// CheckRPID, which passkey.New applies too); config reports them under the variables' names.
func TestPasskeyRulesAreTheRelyingParty(t *testing.T) {
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_PUBLIC_URL=https://auth.example.com",
		"PORTCULLIS_PASSKEY_RP_ID=evil.com", "PORTCULLIS_PASSKEY_ORIGINS=https://auth.example.com,https://app.example.com/x"}
	_, err := config.LoadFrom(env, parsers)
	for _, name := range []string{"PASSKEY_RP_ID", "PASSKEY_ORIGINS"} {
		if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_"+name+":") {
			t.Errorf("the passkey adapter refuses this %s, yet config took it: %v", name, err)
		}
	}
	if _, err := passkey.New(passkey.Config{RPID: "evil.com", Origins: []string{"https://auth.example.com"}}); err == nil {
		t.Error("passkey.New took the relying-party id config refuses")
	}
	other := parsers
	other.PasskeyOrigins = func([]string) error { return nil }
	other.PasskeyRPID = func(string, []string) error { return nil }
	if _, err := config.LoadFrom(env, other); err != nil {
		t.Errorf("settings the given checks take were refused: %v", err)
	}
}

// TestPasswordFloorsAreTheHashers: config writes no Argon2 or bcrypt floor of its own; the
// password settings take what the hasher's checks (password.Check*, through Parsers) say, so
// the floors of config and of password.New are one.
func TestPasswordFloorsAreTheHashers(t *testing.T) {
	below := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_PASSWORD_HASH=scrypt",
		fmt.Sprintf("PORTCULLIS_ARGON2_MEMORY_KIB=%d", password.MinMemory-1),
		fmt.Sprintf("PORTCULLIS_ARGON2_TIME=%d", password.MinTime-1),
		fmt.Sprintf("PORTCULLIS_ARGON2_THREADS=%d", password.MinThreads-1),
		fmt.Sprintf("PORTCULLIS_BCRYPT_COST=%d", password.MinBcryptCost-1)}
	_, err := config.LoadFrom(below, parsers)
	for _, name := range []string{"PASSWORD_HASH", "ARGON2_MEMORY_KIB", "ARGON2_TIME", "ARGON2_THREADS", "BCRYPT_COST"} {
		if err == nil || !strings.Contains(err.Error(), "PORTCULLIS_"+name+":") {
			t.Errorf("the hasher refuses this %s, yet config took it: %v", name, err)
		}
	}
	atFloor := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_PASSWORD_HASH=bcrypt",
		fmt.Sprintf("PORTCULLIS_ARGON2_MEMORY_KIB=%d", password.MinMemory),
		fmt.Sprintf("PORTCULLIS_ARGON2_TIME=%d", password.MinTime),
		fmt.Sprintf("PORTCULLIS_ARGON2_THREADS=%d", password.MinThreads),
		fmt.Sprintf("PORTCULLIS_BCRYPT_COST=%d", password.MinBcryptCost)}
	if _, err := config.LoadFrom(atFloor, parsers); err != nil {
		t.Errorf("the hasher's floors were refused: %v", err)
	}
	loose := parsers
	loose.Argon2Memory = func(uint32) error { return nil }
	below[1] = "PORTCULLIS_PASSWORD_HASH=argon2id"
	if _, err := config.LoadFrom(below, loose); err == nil || strings.Contains(err.Error(), "ARGON2_MEMORY_KIB") {
		t.Errorf("config refused ARGON2_MEMORY_KIB by a floor of its own: %v", err)
	}
}
