package tlsca_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/internal/tlsca"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestRead: a PEM certificate is read into the pool, with the bytes it came from; a missing
// file and a file without a PEM certificate are errors naming the file, so that the service
// names the setting to fix.
func TestRead(t *testing.T) {
	good := testenv.WriteCA(t)
	want, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pool, content, err := tlsca.Read(good)
	if err != nil || pool == nil || !bytes.Equal(content, want) {
		t.Fatalf("Read(ca.pem) = %v, %d bytes, %v", pool, len(content), err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{junk, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, _, err := tlsca.Read(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Read(%s) = %v, want an error naming the file", path, err)
		}
	}
}
