package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The first start, as a new user meets it, by running the built binary.

func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^portcullis \S+ \(commit \S+, ` + regexp.QuoteMeta(runtime.Version()) + `\)\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := ok(t, nil, "", args...)
		if !want.MatchString(out) {
			t.Errorf("portcullis %s = %q, want the module version, commit and %s on one line", args[0], out, runtime.Version())
		}
	}
}

// TestConfigShowsEffectiveValues: each setting's value as the process would use it, beside its
// default; secrets never printed; the public URL derived from the listen port.
func TestConfigShowsEffectiveValues(t *testing.T) {
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==" // 36 bytes
	out := ok(t, []string{"PORTCULLIS_ADDR=127.0.0.1:18080", "PORTCULLIS_ACCESS_TTL=5m", "PORTCULLIS_JWT_ALG=HS256",
		"PORTCULLIS_JWT_SECRET=" + secret, "PORTCULLIS_DATABASE_URL=mysql://portcullis:hunter2@db:3306/portcullis"}, "", "config")
	for _, want := range []string{
		"PORTCULLIS_ACCESS_TTL=5m\n    default: 15m\n",
		"PORTCULLIS_ADDR=127.0.0.1:18080\n    default: :8080\n",
		"PORTCULLIS_PUBLIC_URL=http://localhost:18080\n",
		"PORTCULLIS_JWT_SECRET=(hidden)\n",
		"PORTCULLIS_DATABASE_URL=mysql://portcullis:xxxxx@db:3306/portcullis\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("portcullis config does not show %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{secret, "hunter2"} {
		if strings.Contains(out, leak) {
			t.Errorf("portcullis config prints the secret %q", leak)
		}
	}
}

// TestConfigCheck: `config check` says ok for a good configuration, and for a bad one exits
// non-zero with one line per problem naming the variable.
func TestConfigCheck(t *testing.T) {
	if out := ok(t, []string{"PORTCULLIS_DATA_DIR=" + t.TempDir()}, "", "config", "check"); !strings.Contains(out, "ok") {
		t.Errorf("config check on a good configuration: %q", out)
	}
	r := run(t, []string{"PORTCULLIS_ADDR=localhost", "PORTCULLIS_LOG_LEVEL=loud"}, "", "config", "check")
	if r.code == 0 {
		t.Fatalf("config check with a bad PORTCULLIS_ADDR exited 0:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `PORTCULLIS_ADDR: "localhost" is not host:port`) ||
		!strings.HasPrefix(lines[1], "PORTCULLIS_LOG_LEVEL: ") || !strings.HasPrefix(lines[2], "portcullis: 2 configuration problem") {
		t.Errorf("config check does not list each problem on its own line, naming its variable:\n%s", r.stderr)
	}
}

// TestStartFailureIsOneLine: a data directory that cannot be created stops the start with one
// line naming PORTCULLIS_DATA_DIR and the cause; so does an address already taken, naming
// PORTCULLIS_ADDR; no fx graph, nothing repeated.
func TestStartFailureIsOneLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, []string{"PORTCULLIS_DATA_DIR=" + filepath.Join(file, "data"), "PORTCULLIS_ADDR=" + freePort(t)}, "",
		"PORTCULLIS_DATA_DIR: cannot create "+filepath.Join(file, "data")+": "+file+" is not a directory", "serve")

	// A store that does not answer, and a key file that holds no key, name their variables.
	quiet := func(env ...string) []string {
		return append(env, "PORTCULLIS_DATA_DIR="+t.TempDir(), "PORTCULLIS_ADDR="+freePort(t), "PORTCULLIS_LOG_LEVEL=warn")
	}
	fails(t, quiet("PORTCULLIS_SESSION_STORE=redis://"+testenv.FreeAddr(t)+"/0"), "",
		"PORTCULLIS_SESSION_STORE: ping redis: store unavailable", "serve")
	notAKey := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(notAKey, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, quiet("PORTCULLIS_JWT_KEY_FILE="+notAKey), "", "PORTCULLIS_JWT_KEY_FILE: ", "serve")

	_, base, _ := serve(t, "PORTCULLIS_DATA_DIR="+t.TempDir())
	taken := strings.TrimPrefix(base, "http://")
	// The lines before it say what the start did (schema, keys); the failure is the last, once.
	r := run(t, []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_ADDR=" + taken, "PORTCULLIS_LOG_FORMAT=json"}, "", "serve")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if r.code == 0 || !strings.HasPrefix(last, "portcullis: PORTCULLIS_ADDR: ") || strings.Count(r.stderr, "address already in use") != 1 ||
		strings.Contains(r.stderr, "could not build") || strings.Contains(r.stderr, "OnStart") {
		t.Errorf("the start failure is not told once, on one line naming PORTCULLIS_ADDR:\n%s", r.stderr)
	}
}

// TestStartLogsSayWhatHappened: a first start logs the schema it created, the key-encryption
// key it generated (its path, not the key), the signing key, where it listens and which stores
// it runs on; a second start creates nothing; probes log at debug only.
func TestStartLogsSayWhatHappened(t *testing.T) {
	data := t.TempDir()
	cmd, base, logs := serve(t, "PORTCULLIS_DATA_DIR="+data)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	stop(t, cmd)
	kek, err := os.ReadFile(filepath.Join(data, "key-encryption-key"))
	if err != nil {
		t.Fatal(err)
	}
	port := base[strings.LastIndex(base, ":")+1:]
	lines := logLines(t, logs.String())
	want := []struct {
		msg   string
		attrs map[string]string
	}{
		{"database schema created", map[string]string{"database": "sqlite"}},
		{"key-encryption key generated", map[string]string{"path": filepath.Join(data, "key-encryption-key")}},
		{"signing key generated", map[string]string{"alg": "EdDSA"}},
		{"http server listening", map[string]string{"url": base}},
		{"portcullis started", map[string]string{"url": base, "database": "sqlite", "sessions": "sql",
			"public_url": "http://localhost:" + port}},
	}
	for _, w := range want {
		if !hasLine(lines, w.msg, w.attrs) {
			t.Errorf("no log line %q with %v:\n%s", w.msg, w.attrs, logs)
		}
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(kek))) {
		t.Errorf("the key-encryption key itself is in the log")
	}
	for _, l := range lines {
		if l["msg"] == "request" {
			t.Errorf("a probe was logged at info: %v", l)
		}
	}

	// A second start over the same data creates nothing.
	cmd, _, logs = serve(t, "PORTCULLIS_DATA_DIR="+data)
	stop(t, cmd)
	for _, msg := range []string{"database schema created", "key-encryption key generated", "signing key generated"} {
		if hasLine(logLines(t, logs.String()), msg, nil) {
			t.Errorf("second start logged %q:\n%s", msg, logs)
		}
	}
}

// TestPublicURLFollowsThePort: with PORTCULLIS_PUBLIC_URL unset, the links the service mails
// and its browser origin follow the listen port.
func TestPublicURLFollowsThePort(t *testing.T) {
	_, base, logs := serve(t, "PORTCULLIS_DATA_DIR="+t.TempDir())
	port := base[strings.LastIndex(base, ":")+1:]
	if code, err := post(base, "/api/auth/register", `{"email":"port@example.com","password":"correct horse battery"}`); err != nil || code != 201 {
		t.Fatalf("register: %d %v", code, err)
	}
	// The mail (logged: no SMTP server) carries the verification link.
	link := "http://localhost:" + port + "/verify-email?token="
	waitFor(t, logs, link, 10*time.Second)
	if strings.Contains(logs.String(), "localhost:8080") {
		t.Errorf("a link still points at port 8080:\n%s", logs)
	}
	// A cookie-authenticated write from the public URL's origin is accepted as same-origin.
	req, _ := http.NewRequest("OPTIONS", base+"/api/auth/login", nil)
	req.Header.Set("Origin", "http://localhost:"+port)
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:"+port {
		t.Errorf("Access-Control-Allow-Origin for the public URL's origin = %q, want it allowed", got)
	}
}

// TestOpenAPICommand: `portcullis openapi` prints the document the server serves at
// /openapi.json (as YAML, and as the same JSON with --json).
func TestOpenAPICommand(t *testing.T) {
	_, base, _ := serve(t, "PORTCULLIS_DATA_DIR="+t.TempDir())
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d", resp.StatusCode)
	}
	asJSON := ok(t, nil, "", "openapi", "--json")
	if !bytes.Equal(bytes.TrimSpace([]byte(asJSON)), bytes.TrimSpace(served)) {
		t.Errorf("portcullis openapi --json differs from /openapi.json")
	}
	var a, b any
	if err := yaml.Unmarshal([]byte(ok(t, nil, "", "openapi")), &a); err != nil {
		t.Fatalf("portcullis openapi is not YAML: %v", err)
	}
	if json.Unmarshal(served, &b) != nil || !jsonEqual(a, b) {
		t.Errorf("portcullis openapi (YAML) is not the document served at /openapi.json")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// logLines decodes JSON log lines; others (none expected) are skipped.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// hasLine reports a log line with message msg and every attribute of attrs.
func hasLine(lines []map[string]any, msg string, attrs map[string]string) bool {
next:
	for _, l := range lines {
		if l["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if s, _ := l[k].(string); s != v {
				continue next
			}
		}
		return true
	}
	return false
}

// TestMigrateUsesTheDatabaseSettings: `portcullis migrate` connects as `serve` does, with
// PORTCULLIS_DB_TLS_CA_FILE and PORTCULLIS_DB_CONNECT_TIMEOUT (one function builds the options
// for both): a CA file that holds no certificate stops it, where it was once ignored.
func TestMigrateUsesTheDatabaseSettings(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_DATABASE_URL=" + testenv.MySQLURL(t),
		"PORTCULLIS_DB_CONNECT_TIMEOUT=3s"}
	ok(t, env, "", "migrate", "status")
	fails(t, append(env, "PORTCULLIS_DB_TLS_CA_FILE="+ca), "", "holds no PEM certificate", "migrate", "status")
	fails(t, append(env, "PORTCULLIS_DB_TLS_CA_FILE="+ca), "", "holds no PEM certificate", "migrate", "up")
}
