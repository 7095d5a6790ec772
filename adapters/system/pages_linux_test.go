//go:build linux

package system_test

import (
	"crypto/sha256"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/system"
)

// TestReleaseStartPagesGivesBackTheExecutablesPages: after the call, less of the test binary
// is resident than before (each of its read-only mappings advised), and the process goes on
// running code from those pages, which the kernel maps again from the file.
func TestReleaseStartPagesGivesBackTheExecutablesPages(t *testing.T) {
	sp, err := system.ReleaseStartPages()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RssFile %d kB -> %d kB over %d mappings", sp.Before>>10, sp.After>>10, sp.Mappings)
	if sp.Mappings < 1 {
		t.Errorf("no mapping of the executable advised")
	}
	if sp.After >= sp.Before/2 {
		t.Errorf("RssFile went from %d kB to %d kB; want less than half left", sp.Before>>10, sp.After>>10)
	}
	// Code and read-only data given back still work: hashing runs code and tables that were
	// resident before the call.
	if got := sha256.Sum256([]byte("abc")); got[0] != 0xba || got[31] != 0xad {
		t.Errorf("sha256(abc) = %x after the release", got)
	}
	again, err := system.ReleaseStartPages()
	if err != nil {
		t.Fatalf("a second release: %v", err)
	}
	if again.Mappings != sp.Mappings {
		t.Errorf("second release advised %d mappings, first %d", again.Mappings, sp.Mappings)
	}
}
