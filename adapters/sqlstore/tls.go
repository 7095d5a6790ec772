package sqlstore

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/go-sql-driver/mysql"

	"github.com/portcullis-auth/portcullis/adapters/internal/tlsca"
)

// mysqlTLSWithCA makes cfg verify the server against the PEM certificates in caFile: it
// registers a TLS config with the driver under a name derived from the file's path and content
// (so the same file registers once, and a changed file gets a new name) and selects it, in place
// of any tls= the URL gave. The driver sets the server name to the host of the URL.
func mysqlTLSWithCA(cfg *mysql.Config, caFile string) error {
	pool, pem, err := tlsca.Read(caFile)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	sum := sha256.Sum256(append([]byte(caFile+"\x00"), pem...))
	name := "portcullis-ca-" + hex.EncodeToString(sum[:8])
	if err := mysql.RegisterTLSConfig(name, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
		return fmt.Errorf("sqlstore: register MySQL TLS config: %w", err)
	}
	cfg.TLSConfig = name
	cfg.TLS = nil // the driver fills it from the registered name when the connector is made
	cfg.AllowFallbackToPlaintext = false
	return nil
}

// postgresTLSWithCA names caFile as the root certificate of a PostgreSQL connection (libpq's
// sslrootcert) unless the URL names one already; with no sslmode in the URL it asks for
// verify-full, since a CA is given to be checked against.
func postgresTLSWithCA(q url.Values, caFile string) {
	if caFile == "" {
		return
	}
	if q.Get("sslrootcert") == "" {
		q.Set("sslrootcert", caFile)
	}
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "verify-full")
	}
}
