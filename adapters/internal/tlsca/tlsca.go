// Package tlsca reads the PEM CA file an operator names to verify a server against
// (PORTCULLIS_DB_TLS_CA_FILE, PORTCULLIS_REDIS_TLS_CA_FILE, PORTCULLIS_SMTP_TLS_CA_FILE): the
// SQL, Redis and mail adapters' one rule for it.
package tlsca

import (
	"crypto/x509"
	"fmt"
	"os"
)

// Read returns the certificates of the PEM file at path, and the file's bytes they were read
// from. A file that cannot be read, or that holds no PEM certificate, is an error naming the
// file.
func Read(path string) (*x509.CertPool, []byte, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("TLS CA file %s holds no PEM certificate", path)
	}
	return pool, pem, nil
}
