package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/adapters/internal/tlsca"
)

// withTLSCA makes a TLS client config verify the server against the PEM certificates in caFile.
// It applies only to rediss:// and rediss+cluster:// URLs (cfg is nil for plain redis://, and a
// CA file there is an error rather than a silent downgrade). The server name stays as the URL
// (or, in a cluster, each node's address) sets it.
func withTLSCA(cfg **tls.Config, caFile string) error {
	if caFile == "" {
		return nil
	}
	if *cfg == nil {
		return errors.New("redisstore: a TLS CA file needs a rediss://, rediss+cluster:// or rediss+sentinel:// URL")
	}
	pool, _, err := tlsca.Read(caFile)
	if err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	c := (*cfg).Clone()
	c.RootCAs = pool
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	*cfg = c
	return nil
}
