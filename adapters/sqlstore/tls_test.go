package sqlstore

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestMySQLTLSCAFile(t *testing.T) {
	ca := testenv.WriteCA(t)
	cfg, err := mysqlConfig("mysql://u@db.example:3306/auth?tls=skip-verify", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := mysqlTLSWithCA(cfg, ca); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.TLSConfig, "portcullis-ca-") {
		t.Fatalf("TLSConfig = %q, want the registered CA config", cfg.TLSConfig)
	}
	// The name resolves: the connector normalizes it into a verifying config for the host.
	if _, err := mysql.NewConnector(cfg); err != nil {
		t.Fatalf("NewConnector: %v", err)
	}
	again, _ := mysqlConfig("mysql://u@db.example:3306/auth", 0)
	if err := mysqlTLSWithCA(again, ca); err != nil || again.TLSConfig != cfg.TLSConfig {
		t.Fatalf("same file registered as %q (%v), want %q", again.TLSConfig, err, cfg.TLSConfig)
	}
	// Through openDB, as the module opens it.
	db, err := openDB("mysql://u@db.example:3306/auth", Options{TLSCAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	_ = os.WriteFile(notPEM, []byte("junk"), 0o600)
	for _, bad := range []string{notPEM, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := openDB("mysql://u@db.example:3306/auth", Options{TLSCAFile: bad}); err == nil {
			t.Errorf("openDB with CA file %s: nil error", bad)
		}
	}
}

func TestPostgresTLSCAFile(t *testing.T) {
	ca := testenv.WriteCA(t)
	for _, tt := range []struct{ url, wantMode, wantCA string }{
		{"postgres://u@db.example/auth", "verify-full", ca},
		{"postgres://u@db.example/auth?sslmode=verify-ca", "verify-ca", ca},
		{"postgres://u@db.example/auth?sslrootcert=/etc/ca.pem&sslmode=require", "require", "/etc/ca.pem"},
	} {
		dsn, err := postgresDSN(tt.url, time.Second, ca)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(dsn)
		if q := u.Query(); q.Get("sslmode") != tt.wantMode || q.Get("sslrootcert") != tt.wantCA {
			t.Errorf("postgresDSN(%q) = %q, want sslmode=%s sslrootcert=%s", tt.url, dsn, tt.wantMode, tt.wantCA)
		}
	}
	dsn, _ := postgresDSN("postgres://u@db.example/auth?sslmode=disable", time.Second, "")
	if strings.Contains(dsn, "sslrootcert") {
		t.Errorf("no CA file, yet %q", dsn)
	}
}

// TestConnectTimeoutIsTheCallers: the connect timeout is the caller's (config's
// PORTCULLIS_DB_CONNECT_TIMEOUT, passed by cmd/portcullis) and the adapter adds none of its own,
// so config's default is the only one.
func TestConnectTimeoutIsTheCallers(t *testing.T) {
	for timeout, want := range map[time.Duration]string{0: "", 7 * time.Second: "7"} {
		dsn, err := postgresDSN("postgres://u@db.example/auth", timeout, "")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(dsn)
		if got := u.Query().Get("connect_timeout"); got != want {
			t.Errorf("postgresDSN(timeout %s): connect_timeout=%q, want %q", timeout, got, want)
		}
		cfg, err := mysqlConfig("mysql://u@db.example:3306/auth", timeout)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Timeout != timeout {
			t.Errorf("mysqlConfig(timeout %s): Timeout %s", timeout, cfg.Timeout)
		}
	}
	if o := (Options{}).withDefaults(MySQL); o.ConnectTimeout != 0 {
		t.Errorf("Options{} took a connect timeout of its own: %s", o.ConnectTimeout)
	}
}
