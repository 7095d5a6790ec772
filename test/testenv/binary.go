package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// RestartableAddr is FreeAddr for a server that a test stops and starts again on the same port.
// The port lies below the kernel's ephemeral range (net.ipv4.ip_local_port_range), which FreeAddr's
// ports come from: while the server is down, an outgoing connection of any process may be given
// such a port as its local one — a client retrying the dead server's port can even connect to
// itself on it — and the restart then fails with "address already in use".
func RestartableAddr(t testing.TB) string {
	t.Helper()
	const first = 20000
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low-first < 1000 {
		return FreeAddr(t)
	}
	for range 100 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first+rand.IntN(low-first)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		_ = l.Close()
		return addr
	}
	t.Fatalf("no free loopback port in %d-%d after 100 tries", first, low-1)
	return ""
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
