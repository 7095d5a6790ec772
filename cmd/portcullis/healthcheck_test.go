package main

import (
	"strings"
	"testing"
)

func TestReadyzURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://127.0.0.1:8080/readyz",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/readyz",
		"[::]:9000":      "http://127.0.0.1:9000/readyz",
		"localhost:80":   "http://127.0.0.1:80/readyz",
		"10.0.0.5:8080":  "http://10.0.0.5:8080/readyz",
		"[fd00::1]:8080": "http://[fd00::1]:8080/readyz",
	} {
		if got, err := readyzURL(addr); err != nil || got != want {
			t.Errorf("readyzURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	if _, err := readyzURL("8080"); err == nil {
		t.Error("readyzURL(8080): nil error")
	}
}

// TestHealthcheck: the subcommand exits 0 against a ready server on PORTCULLIS_ADDR's port, and
// 1 when nothing listens there.
func TestHealthcheck(t *testing.T) {
	cmd, base, _ := start(t, t.TempDir())
	addr := strings.TrimPrefix(base, "http://")
	_, port, _ := strings.Cut(addr, ":")
	out, err := command(t, []string{"PORTCULLIS_ADDR=:" + port}, "healthcheck").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ready") {
		t.Fatalf("healthcheck against a ready server: %v\n%s", err, out)
	}
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
	out, err = command(t, []string{"PORTCULLIS_ADDR=" + addr}, "healthcheck", "--timeout", "2s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not ready") {
		t.Fatalf("healthcheck with the server gone: err %v, want exit 1 saying not ready\n%s", err, out)
	}
}
