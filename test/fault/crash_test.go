// Package fault tests Portcullis's behaviour under faults by running the real binary: killed
// mid-load (SIGKILL, no drain), and with a store gone. Everything is on loopback and bounded.
package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// binary is the portcullis command, built once for this package.
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinary(m, &binary)) }

// server is one run of the binary on a fixed address.
type server struct {
	cmd  *exec.Cmd
	base string
	logs *testenv.Buffer // stdout and stderr, read while the process runs
}

// start runs the binary with env (PORTCULLIS_* settings) listening on addr, and waits until
// /readyz answers 200. The process is killed at cleanup if still running.
func start(t *testing.T, addr string, env []string) *server {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"PORTCULLIS_ADDR=" + addr, "PORTCULLIS_LOG_FORMAT=json", "PORTCULLIS_LOG_LEVEL=warn"}, env...)
	cmd.Dir = t.TempDir()
	s := &server{cmd: cmd, base: "http://" + addr, logs: &testenv.Buffer{}}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	t.Fatalf("portcullis not ready within 30s; logs:\n%s", s.logs)
	return nil
}

// kill sends SIGKILL (no drain, no deferred close) and reaps the process.
func (s *server) kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_, _ = s.cmd.Process.Wait()
}

var client = &http.Client{Timeout: 10 * time.Second}

// post sends a JSON body and returns the status and decoded JSON object (nil if none).
func post(ctx context.Context, base, path string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

type account struct{ email, password string }

// outcome is what the load saw acknowledged before the kill.
type outcome struct {
	mu       sync.Mutex
	users    []account
	sessions []string // refresh tokens from logins that answered 200
}

// load registers and logs in users from workers goroutines until stop is closed or a request
// fails at the transport (the server is gone). Only acknowledged results are recorded.
func load(ctx context.Context, base string, workers int, stop <-chan struct{}, o *outcome) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				a := account{email: fmt.Sprintf("crash-%d-%d@example.com", w, i), password: "correct horse battery " + fmt.Sprint(w, i)}
				code, _, err := post(ctx, base, "/api/auth/register", map[string]string{"email": a.email, "password": a.password})
				if err != nil {
					return
				}
				if code != http.StatusCreated {
					time.Sleep(20 * time.Millisecond) // e.g. 429 or 503: back off, go on
					continue
				}
				o.mu.Lock()
				o.users = append(o.users, a)
				o.mu.Unlock()
				code, body, err := post(ctx, base, "/api/auth/login", map[string]string{"email": a.email, "password": a.password})
				if err != nil {
					return
				}
				if tok, _ := body["refresh_token"].(string); code == http.StatusOK && tok != "" {
					o.mu.Lock()
					o.sessions = append(o.sessions, tok)
					o.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}

// waitAcknowledged returns once o holds at least n registrations and n logins, or after limit.
func waitAcknowledged(o *outcome, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		o.mu.Lock()
		enough := len(o.users) >= n && len(o.sessions) >= n
		o.mu.Unlock()
		if enough {
			time.Sleep(100 * time.Millisecond) // let every worker have a request in flight
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crashAndRecover drives load against a server started with env, SIGKILLs it mid-load, starts
// it again with the same env, and checks that every acknowledged registration can log in and
// every acknowledged login's refresh token still refreshes.
func crashAndRecover(t *testing.T, env []string) *server {
	addr := testenv.RestartableAddr(t)
	first := start(t, addr, env)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var o outcome
	done := make(chan struct{})
	go func() { load(ctx, first.base, 4, stop, &o); close(done) }()

	// Kill once a few registrations and logins are acknowledged (argon2id's pace depends on the
	// machine, so a fixed delay is not enough on a busy one), with requests from every worker in
	// flight; at most 30 s in.
	waitAcknowledged(&o, 3, 30*time.Second)
	first.kill()
	close(stop)
	<-done

	o.mu.Lock()
	users, sessions := o.users, o.sessions
	o.mu.Unlock()
	t.Logf("acknowledged before SIGKILL: %d registrations, %d logins", len(users), len(sessions))
	if len(users) < 3 || len(sessions) < 3 {
		t.Fatalf("the load got too little acknowledged (%d users, %d sessions) to test recovery; logs:\n%s", len(users), len(sessions), first.logs)
	}

	second := start(t, addr, env)
	vctx, vcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer vcancel()
	var lost atomic.Int64
	jobs := make(chan func(), len(users)+len(sessions))
	for _, a := range users {
		jobs <- func() {
			code, _, err := post(vctx, second.base, "/api/auth/login", map[string]string{"email": a.email, "password": a.password})
			if err != nil || code != http.StatusOK {
				lost.Add(1)
				t.Errorf("registered user %s cannot log in after the crash: %d %v", a.email, code, err)
			}
		}
	}
	for _, tok := range sessions {
		jobs <- func() {
			code, body, err := post(vctx, second.base, "/api/auth/refresh", map[string]string{"refresh_token": tok})
			if err != nil || code != http.StatusOK {
				lost.Add(1)
				t.Errorf("live session %s… does not refresh after the crash: %d %v %v", tok[:min(8, len(tok))], code, body, err)
			}
		}
	}
	close(jobs)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for job := range jobs {
				job()
			}
		})
	}
	wg.Wait()
	if lost.Load() > 0 {
		t.Logf("logs after restart:\n%s", second.logs)
	}
	return second
}

// TestCrashLosesNothingOnMySQLAndRedis: SIGKILL mid-load on (mysql, redis) loses no
// acknowledged user or session; /readyz then reports both stores.
func TestCrashLosesNothingOnMySQLAndRedis(t *testing.T) {
	db := testenv.MySQLURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t)
	s := crashAndRecover(t, []string{
		"PORTCULLIS_DATA_DIR=" + t.TempDir(), // the generated key-encryption key, kept across the restart
		"PORTCULLIS_DATABASE_URL=" + db,
		"PORTCULLIS_SESSION_STORE=" + redisURL,
		"PORTCULLIS_REDIS_KEY_PREFIX=" + prefix,
	})
	checks := readyChecks(t, s.base, http.StatusOK)
	for _, name := range []string{"database", "sessions"} {
		if checks[name] != "ok" {
			t.Errorf("/readyz checks %v: want %s ok", checks, name)
		}
	}
}

// TestCrashLosesNothingOnSQLite: the same on the embedded default, SQLite in the data
// directory with sessions in it.
func TestCrashLosesNothingOnSQLite(t *testing.T) {
	crashAndRecover(t, []string{"PORTCULLIS_DATA_DIR=" + t.TempDir()})
}

// readyChecks GETs /readyz, wants status, and returns its checks.
func readyChecks(t *testing.T, base string, status int) map[string]string {
	t.Helper()
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
		Detail string            `json:"detail"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	if resp.StatusCode != status {
		t.Fatalf("/readyz = %d %s, want %d", resp.StatusCode, raw, status)
	}
	if status != http.StatusOK && !strings.Contains(body.Detail, "unavailable") {
		t.Errorf("/readyz detail %q does not say what is unavailable", body.Detail)
	}
	return body.Checks
}

// TestReadyzNamesTheDownStore: with Redis behind a proxy that is then cut, /readyz answers 503
// naming "sessions" while the database stays ok.
func TestReadyzNamesTheDownStore(t *testing.T) {
	db := testenv.MySQLURL(t)
	redisURL := testenv.RedisURL(t)
	prefix := testenv.RedisPrefix(t)
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	p := newFaultProxy(t, u.Host)
	u.Host = p.addr()
	s := start(t, testenv.FreeAddr(t), []string{
		"PORTCULLIS_DATA_DIR=" + t.TempDir(),
		"PORTCULLIS_DATABASE_URL=" + db,
		"PORTCULLIS_SESSION_STORE=" + u.String(),
		"PORTCULLIS_REDIS_KEY_PREFIX=" + prefix,
		"PORTCULLIS_REDIS_DIAL_TIMEOUT=500ms",
	})
	if c := readyChecks(t, s.base, http.StatusOK); c["database"] != "ok" || c["sessions"] != "ok" {
		t.Fatalf("/readyz checks %v before the cut, want database and sessions ok", c)
	}
	p.refuse()
	c := readyChecks(t, s.base, http.StatusServiceUnavailable)
	if c["sessions"] != "unavailable" || c["database"] != "ok" {
		t.Errorf("/readyz checks %v after cutting Redis, want sessions unavailable and database ok", c)
	}
}
