package redisstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portcullis test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSCAFile(t *testing.T) {
	ca := writeCA(t)
	c, err := NewClient("rediss://redis.example:6380/0", Options{TLSCAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*redis.Client).Options().TLSConfig
	if tc == nil || tc.RootCAs == nil || tc.ServerName != "redis.example" {
		t.Fatalf("TLS config %+v, want the CA pool and the URL's server name", tc)
	}
	_ = c.Close()

	cc, err := NewClient("rediss+cluster://n1.example:6379,n2.example:6379", Options{TLSCAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if tc := cc.(*redis.ClusterClient).Options().TLSConfig; tc == nil || tc.RootCAs == nil || tc.ServerName != "" {
		t.Fatalf("cluster TLS config %+v, want the CA pool and no pinned server name", tc)
	}
	_ = cc.Close()

	if _, err := NewClient("redis://redis.example:6379/0", Options{TLSCAFile: ca}); err == nil {
		t.Error("CA file with plain redis://: nil error")
	}
	if _, err := NewClient("rediss://redis.example:6380/0", Options{TLSCAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("missing CA file: nil error")
	}
}
