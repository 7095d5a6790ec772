package redisstore

import (
	"path/filepath"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestTLSCAFile(t *testing.T) {
	ca := testenv.WriteCA(t)
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
