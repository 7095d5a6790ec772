package testenv

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestRestartableAddrIsBelowTheEphemeralRange: the port can be bound, and no outgoing
// connection can be handed it while its server is down.
func TestRestartableAddrIsBelowTheEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral range to compare with: %v", err)
	}
	low, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil || low < 21000 {
		t.Skipf("ephemeral range %q leaves no room below it", b)
	}
	for range 20 {
		addr := RestartableAddr(t)
		_, p, _ := net.SplitHostPort(addr)
		if port, _ := strconv.Atoi(p); port < 20000 || port >= low {
			t.Fatalf("RestartableAddr = %s, want a port in 20000-%d", addr, low-1)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("RestartableAddr gave %s, which cannot be bound: %v", addr, err)
		}
		l.Close()
	}
}
