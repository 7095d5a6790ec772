package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// binary is the portcullis command built once for these tests.
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinary(m, &binary)) }

func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Dir = t.TempDir()
	return cmd
}

func TestConfigListsEverySetting(t *testing.T) {
	out, err := command(t, nil, "config").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !bytes.Contains(out, []byte(s.Name)) {
			t.Errorf("portcullis config does not list %s", s.Name)
		}
	}
	if !bytes.Contains(out, []byte("default: 15m")) {
		t.Errorf("defaults are missing:\n%s", out)
	}
	// The settings table lives in `portcullis config`; `serve --help` is short and points there.
	help, err := command(t, nil, "serve", "--help").Output()
	if err != nil || !bytes.Contains(help, []byte("portcullis config")) || bytes.Contains(help, []byte("PORTCULLIS_ACCESS_TTL")) ||
		bytes.Count(help, []byte("\n")) > 15 {
		t.Errorf("serve --help is not a short text pointing at `portcullis config`: %v\n%s", err, help)
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	cases := map[string]string{
		"PORTCULLIS_ACCESS_TTL=soon":                   "PORTCULLIS_ACCESS_TTL",
		"PORTCULLIS_JWT_ALG=none":                      "PORTCULLIS_JWT_ALG",
		"PORTCULLIS_JWT_KEY_FILE=/nonexistent/key.pem": "PORTCULLIS_JWT_KEY_FILE",
		"PORTCULLIS_DATABASE_URL=oracle://x":           "PORTCULLIS_DATABASE_URL",
	}
	for env, name := range cases {
		out, err := command(t, []string{env}).CombinedOutput()
		if err == nil {
			t.Errorf("%s: the service started", env)
			continue
		}
		if !strings.Contains(string(out), name) {
			t.Errorf("%s: the error does not name %s:\n%s", env, name, out)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs `portcullis` on a fresh port over dataDir and waits until it is ready.
func start(t *testing.T, dataDir string) (*exec.Cmd, string, *testenv.Buffer) {
	t.Helper()
	return serve(t, "PORTCULLIS_DATA_DIR="+dataDir)
}

// client opens a connection per request, so that a request refused at connect time (the
// listener is closed) is told apart from one accepted and then dropped.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}

func post(base, path, body string) (int, error) {
	resp, err := client.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestSIGTERMDrainsInFlightRequests: under load, SIGTERM closes the listener, lets every
// accepted request finish, and the process exits cleanly (SECURITY H58).
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	cmd, base, logs := start(t, t.TempDir())
	if code, err := post(base, "/api/auth/register", `{"email":"load@example.com","password":"correct horse battery"}`); err != nil || code != 201 {
		t.Fatalf("register: %d %v", code, err)
	}
	// Logins are slow on purpose (argon2id), so many are in flight when the signal lands.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	var refused, failed int
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code, err := post(base, "/api/auth/login", `{"email":"load@example.com","password":"correct horse battery"}`)
				mu.Lock()
				switch {
				case err != nil && isRefused(err):
					refused++ // the listener is closed: expected after SIGTERM
				case err != nil:
					failed++
					t.Errorf("an accepted request failed: %v", err)
				default:
					statuses[code]++
				}
				stop := err != nil
				mu.Unlock()
				if stop {
					return
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	wg.Wait()
	if werr != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", werr, logs)
	}
	if statuses[200] == 0 || len(statuses) != 1 {
		t.Fatalf("statuses during shutdown: %v (want only 200s)", statuses)
	}
	if !strings.Contains(logs.String(), "http server stopped") {
		t.Fatalf("no orderly stop in the logs:\n%s", logs)
	}
	// Every login the service handled reached its client: none was cut off by the shutdown.
	handled := strings.Count(logs.String(), `"route":"/api/auth/login","path":"/api/auth/login","status":200`)
	if handled != statuses[200] {
		t.Fatalf("the service answered %d logins but clients received %d", handled, statuses[200])
	}
	t.Logf("%d logins answered 200 during the run; %d refused after the listener closed", statuses[200], refused)
}

// TestSIGTERMDuringStartStopsCleanly: a SIGTERM that lands as soon as the listener is up,
// while the rest of the start is still running, stops the service as any other SIGTERM does
// (the start finishes, then an orderly stop and exit status 0), rather than killing it with
// the signal's default action.
func TestSIGTERMDuringStartStopsCleanly(t *testing.T) {
	for i := range 3 {
		cmd, _, logs := launch(t, "PORTCULLIS_DATA_DIR="+t.TempDir())
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logs.String(), `"msg":"http server listening"`) {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: the listener never came up:\n%s", i, logs)
			}
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: exit after a SIGTERM during the start: %v\n%s", i, err, logs)
		}
		for _, msg := range []string{"portcullis started", "portcullis stopping", "http server stopped"} {
			if !strings.Contains(logs.String(), `"msg":"`+msg+`"`) {
				t.Fatalf("run %d: no %q line after a SIGTERM during the start:\n%s", i, msg, logs)
			}
		}
	}
}

// isRefused reports a connection the service never accepted: refused once the listener is
// closed, or reset by the kernel when the listener closed with the connection still in its
// accept backlog. Whether the service accepted every request it answered is checked against
// its own access log.
func isRefused(err error) bool {
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "connection reset by peer")
}

// TestRestartKeepsEverything: users, sessions and the signing key survive a restart, and a
// token issued before it still works after it.
func TestRestartKeepsEverything(t *testing.T) {
	data := t.TempDir()
	cmd, base, _ := start(t, data)
	if code, err := post(base, "/api/auth/register", `{"email":"keep@example.com","password":"correct horse battery"}`); err != nil || code != 201 {
		t.Fatalf("register: %d %v", code, err)
	}
	resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(`{"email":"keep@example.com","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	access := field(string(body), "access_token")
	refresh := field(string(body), "refresh_token")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	_, base, _ = start(t, data)
	req, _ := http.NewRequest("GET", base+"/api/users/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	me, err := http.DefaultClient.Do(req)
	if err != nil || me.StatusCode != 200 {
		t.Fatalf("old access token after restart: %v %v", me.StatusCode, err)
	}
	me.Body.Close()
	if code, err := post(base, "/api/auth/refresh", `{"refresh_token":"`+refresh+`"}`); err != nil || code != 200 {
		t.Fatalf("old refresh token after restart: %d %v", code, err)
	}
	if code, _ := post(base, "/api/auth/login", `{"email":"keep@example.com","password":"correct horse battery"}`); code != 200 {
		t.Fatalf("the user did not survive: %d", code)
	}
}

// field pulls a string field out of a flat JSON object without a full decode.
func field(body, name string) string {
	_, rest, ok := strings.Cut(body, `"`+name+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
