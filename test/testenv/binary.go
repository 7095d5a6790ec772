package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunWithBinary is the body of TestMain for packages whose tests run the real portcullis
// binary:
//
//	var binary string
//
//	func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinary(m, &binary)) }
//
// It builds github.com/portcullis-auth/portcullis/cmd/portcullis once into a new temporary
// directory, sets *binary to its path, runs the tests and removes the directory, returning the
// tests' exit code. When the directory cannot be made or the build fails it says why on stderr
// and returns 1 without running any test.
func RunWithBinary(m *testing.M, binary *string) int {
	dir, err := os.MkdirTemp("", "portcullis-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*binary = filepath.Join(dir, "portcullis")
	build := exec.Command("go", "build", "-o", *binary, "github.com/portcullis-auth/portcullis/cmd/portcullis")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build portcullis: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// FreeAddr returns a loopback address (127.0.0.1:port) with a port that was free a moment ago:
// for a server a test starts, or as an address where nothing listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
