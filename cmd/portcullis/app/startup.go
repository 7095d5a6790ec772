package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"go.uber.org/dig"

	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/config"
)

// Parsers are the adapters' readings of the settings whose format they own, for config to check
// those settings with (config imports no adapter). Every command loads the configuration with
// them; so do the tests that start the service as the binary does.
var Parsers = config.Parsers{
	DatabaseKind:   databaseKind,
	RedisURL:       redisURL,
	JWTAlg:         jwxtoken.CheckAlg,
	Leeway:         jwxtoken.CheckLeeway,
	JWTSecret:      jwxtoken.CheckSecret,
	JWTKeyFile:     jwxtoken.CheckKeyFile,
	PasswordHash:   password.CheckAlgorithm,
	Argon2Memory:   password.CheckMemory,
	Argon2Time:     password.CheckTime,
	Argon2Threads:  password.CheckThreads,
	BcryptCost:     password.CheckBcryptCost,
	PasskeyOrigins: passkey.CheckOrigins,
	PasskeyRPID:    passkey.CheckRPID,
}

// databaseKind is sqlstore.KindOf, the one reading of a database URL's engine, as config takes it.
func databaseKind(databaseURL string) (string, error) {
	kind, err := sqlstore.KindOf(databaseURL)
	return string(kind), err
}

// redisURL is redisstore.KindOf, the one reading of a Redis URL's scheme, as config takes it.
func redisURL(raw string) (tls bool, err error) {
	kind, err := redisstore.KindOf(raw)
	return kind.TLS, err
}

// LoadConfig reads and validates the configuration from the environment, for every command.
func LoadConfig() (config.Config, error) {
	cfg, err := config.Load(Parsers)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

// sqlConfig is the database adapter's configuration, the one function that turns the settings
// into it, for `serve`, the operator commands and `migrate` alike.
func sqlConfig(cfg config.Config, log *slog.Logger) sqlstore.Config {
	setting := config.Prefix + "DATABASE_URL"
	if cfg.DatabaseInDataDir() {
		setting = config.Prefix + "DATA_DIR" // the user set no URL: the data directory is what to fix
	}
	return sqlstore.Config{
		URL: cfg.DatabaseURL, AutoMigrate: cfg.AutoMigrate, Setting: setting, Log: log,
		Options: sqlstore.Options{
			MaxOpenConns: cfg.DBMaxOpenConns, MaxIdleConns: cfg.DBMaxIdleConns, ConnMaxLifetime: cfg.DBConnMaxLifetime,
			ConnectTimeout: cfg.DBConnectTimeout, TLSCAFile: cfg.DBTLSCAFile, Renormalize: renormalizeStep(log, nil),
		},
	}
}

// startError is the one line a failed start prints: the cause a person can act on, naming the
// variable to fix, without the dependency graph fx wraps around it.
func startError(cfg config.Config, err error) error {
	err = dig.RootCause(err)
	msg := err.Error()
	var op *net.OpError
	switch {
	case strings.HasPrefix(msg, config.Prefix):
	case errors.As(err, &op) && op.Op == "listen":
		msg = config.Prefix + "ADDR: " + msg
	default:
		// An adapter that could not use a configured file names the file: name its setting.
		for _, f := range []struct{ name, path string }{
			{"JWT_KEY_FILE", cfg.JWTKeyFile}, {"DB_TLS_CA_FILE", cfg.DBTLSCAFile}, {"REDIS_TLS_CA_FILE", cfg.RedisTLSCAFile},
			{"SMTP_TLS_CA_FILE", cfg.SMTPTLSCAFile}, {"MAIL_TEMPLATES_DIR", cfg.MailTemplatesDir},
			{"BOOTSTRAP_ADMIN_PASSWORD_FILE", cfg.BootstrapAdminPasswordFile},
		} {
			if f.path != "" && strings.Contains(msg, f.path) {
				msg = config.Prefix + f.name + ": " + msg
				break
			}
		}
	}
	return errors.New(oneLine(msg))
}

// oneLine joins the lines of a message (errors.Join writes one a line) with "; ".
func oneLine(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
