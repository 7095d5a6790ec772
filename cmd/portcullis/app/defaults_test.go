package app

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/config"
)

// TestAdaptersTakeConfigsDefaults: for every setting that config has a default for and an
// adapter takes, config's default (the envDefault tag `portcullis config` shows) is what reaches
// the adapter. The adapters keep no default of their own for these (their tests refuse or leave
// unbounded a zero), so that tag is the one place each default is written.
func TestAdaptersTakeConfigsDefaults(t *testing.T) {
	cfg, err := config.LoadFrom([]string{"PORTCULLIS_DATA_DIR=" + t.TempDir(),
		"PORTCULLIS_SESSION_STORE=redis://127.0.0.1:6379/0", "PORTCULLIS_REDIS_WAIT_REPLICAS=1",
		"PORTCULLIS_SMTP_URL=smtp://mail.example:587"}, Parsers)
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	for _, s := range config.Settings() {
		defaults[s.Name] = s.Default
	}
	sql, http, redis, smtp := sqlConfig(cfg, nil), httpConfig(cfg), redisConfig(cfg), smtpConfig(cfg)
	for _, tt := range []struct {
		setting string
		adapter any
	}{
		{"DB_CONNECT_TIMEOUT", sql.Options.ConnectTimeout},
		{"REDIS_WAIT_TIMEOUT", redis.WaitTimeout},
		{"BODY_LIMIT", http.BodyLimit},
		{"REQUEST_TIMEOUT", http.RequestTimeout},
		{"SHUTDOWN_TIMEOUT", http.ShutdownTimeout},
		{"KEEP_CONN_BUFFERS", http.KeepConnBuffers},
		{"MAIL_SEND_TIMEOUT", smtp.Timeout},
	} {
		want, ok := defaults[config.Prefix+tt.setting]
		if !ok || want == "" {
			t.Errorf("%s has no default in config", tt.setting)
			continue
		}
		if got := fmt.Sprint(tt.adapter); got != want {
			t.Errorf("%s: the adapter is given %s, config's default is %s", tt.setting, got, want)
		}
	}
}

// TestHTTPSwitchesReachTheServer: the HTTP settings that turn a default off or on arrive at the
// server's config as set.
func TestHTTPSwitchesReachTheServer(t *testing.T) {
	cfg, err := config.LoadFrom([]string{"PORTCULLIS_DATA_DIR=" + t.TempDir(),
		"PORTCULLIS_KEEP_CONN_BUFFERS=true", "PORTCULLIS_ACCESS_LOG=false"}, Parsers)
	if err != nil {
		t.Fatal(err)
	}
	if http := httpConfig(cfg); !http.KeepConnBuffers || !http.NoAccessLog {
		t.Fatalf("KEEP_CONN_BUFFERS=true, ACCESS_LOG=false reach the server as KeepConnBuffers %v, NoAccessLog %v",
			http.KeepConnBuffers, http.NoAccessLog)
	}
}

// TestConfigStatesSQLDefaults: the pool defaults of DB_MAX_OPEN_CONNS and DB_CONN_MAX_LIFETIME
// depend on the engine, so they are sqlstore's (Default*), not an envDefault tag; config's help
// texts, which `portcullis config` and README.md show, state exactly those values.
func TestConfigStatesSQLDefaults(t *testing.T) {
	help := map[string]string{}
	for _, s := range config.Settings() {
		help[s.Name] = s.Help
	}
	lifetime := strings.TrimSuffix(sqlstore.DefaultConnMaxLifetime.String(), "0s") // 30m0s -> 30m
	for setting, want := range map[string]string{
		"DB_MAX_OPEN_CONNS":    fmt.Sprintf("(default: %d; %d for SQLite)", sqlstore.DefaultMaxOpenConns, sqlstore.DefaultMaxOpenConnsSQLite),
		"DB_CONN_MAX_LIFETIME": fmt.Sprintf("(default: %s; SQLite: never)", lifetime),
	} {
		if h := help[config.Prefix+setting]; !strings.HasSuffix(h, want) {
			t.Errorf("%s's help %q does not state sqlstore's default %q", setting, h, want)
		}
	}
}

// TestMailDefaultsAreConfigs: the core keeps defaults for MailSettings (a core built by tests has
// no configuration); they must be config's, so that a service and a test behave alike. With no
// mail setting given, what the composition root passes equals what a zero MailSettings means.
func TestMailDefaultsAreConfigs(t *testing.T) {
	cfg, err := config.LoadFrom([]string{"PORTCULLIS_DATA_DIR=" + t.TempDir()}, Parsers)
	if err != nil {
		t.Fatal(err)
	}
	got := mailSettings(cfg)
	got.PublicURL = "" // derived from the listen address; the core has no default for it
	if want := application.DefaultMailSettings(); got != want {
		t.Errorf("config's mail defaults differ from the core's:\nconfig %+v\ncore   %+v", got, want)
	}
}
