package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The operator CLI tests run the built binary against a real database, next to a real server
// on the same database, as an operator would.

const goodPassword = "correct horse battery"

// backends runs f against SQLite (a fresh data directory) and MySQL (a fresh database). env is
// the environment every process of the subtest shares: the CLI commands and the servers.
func backends(t *testing.T, f func(t *testing.T, env []string)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, []string{"PORTCULLIS_DATA_DIR=" + t.TempDir()})
	})
	t.Run("mysql", func(t *testing.T) {
		kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		f(t, []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_DATABASE_URL=" + testenv.MySQLURL(t),
			"PORTCULLIS_KEY_ENCRYPTION_KEY=" + kek})
	})
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// run runs `portcullis args...` with env and stdin and waits for it.
func run(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := command(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("portcullis %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// ok runs the command and fails the test unless it exits 0; it returns stdout.
func ok(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	r := run(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("portcullis %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs the command and checks that it exits non-zero with exactly one line on stderr,
// `portcullis: ...`, containing want.
func fails(t *testing.T, env []string, stdin, want string, args ...string) {
	t.Helper()
	r := run(t, env, stdin, args...)
	if r.code == 0 {
		t.Fatalf("portcullis %s: exit 0, want failure\nstdout: %s", strings.Join(args, " "), r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "portcullis: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("portcullis %s: stderr is not one line `portcullis: ...%s...`:\n%s", strings.Join(args, " "), want, r.stderr)
	}
}

// serve starts `portcullis serve` with env on a fresh port and waits until it is ready.
func serve(t *testing.T, env ...string) (*exec.Cmd, string, *testenv.Buffer) {
	t.Helper()
	cmd, base, logs := launch(t, env...)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, base, logs
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not ready in time; logs:\n%s", logs.String())
	return nil, "", nil
}

// launch starts `portcullis serve` with env on a free loopback port, its JSON log in the
// returned buffer, and returns at once; serve also waits for it to be ready.
func launch(t *testing.T, env ...string) (*exec.Cmd, string, *testenv.Buffer) {
	t.Helper()
	addr := freePort(t)
	cmd := command(t, append(env, "PORTCULLIS_ADDR="+addr, "PORTCULLIS_LOG_FORMAT=json"), "serve")
	logs := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd, "http://" + addr, logs
}

// stop ends a server with SIGTERM and waits for it.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// call makes one request with an optional bearer token and JSON body, and returns the status
// and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	code, b, err := tryCall(method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return code, b
}

func tryCall(method, url, token, body string) (int, string, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// login logs in over HTTP and returns the access and refresh tokens.
func login(t *testing.T, base, email, password string) (access, refresh string) {
	t.Helper()
	code, body := call(t, "POST", base+"/api/auth/login", "", fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	if code != 200 {
		t.Fatalf("login %s: %d %s", email, code, body)
	}
	return field(body, "access_token"), field(body, "refresh_token")
}

// listedUsers runs `users list --json` with args and decodes it.
func listedUsers(t *testing.T, env []string, args ...string) []struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Disabled bool     `json:"disabled"`
} {
	t.Helper()
	out := ok(t, env, "", append([]string{"users", "list", "--json"}, args...)...)
	var users []struct {
		ID       string   `json:"id"`
		Email    string   `json:"email"`
		Roles    []string `json:"roles"`
		Disabled bool     `json:"disabled"`
	}
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("users list --json: %v\n%s", err, out)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "password") {
		t.Fatalf("users list --json shows password material:\n%s", out)
	}
	return users
}

func writePassword(t *testing.T, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOperatorCLI drives every users and sessions command against each backend, with a server
// running on the same database (SECURITY A7: a fresh deployment has no admin until the
// operator makes one).
func TestOperatorCLI(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		// A fresh deployment has no admin, and the admin content needs one.
		if out := ok(t, env, "", "users", "list", "--role", "admin"); strings.TrimSpace(out) != "no users" {
			t.Fatalf("a fresh deployment lists admins:\n%s", out)
		}
		_, base, logs := serve(t, env...)
		if code, body := call(t, "POST", base+"/api/auth/register", "", `{"email":"plain@example.com","password":"`+goodPassword+`"}`); code != 201 {
			t.Fatalf("register: %d %s", code, body)
		}
		plain, _ := login(t, base, "plain@example.com", goodPassword)
		if code, _ := call(t, "GET", base+"/api/test/admin", plain, ""); code != 403 {
			t.Fatalf("/api/test/admin for a plain user: %d, want 403", code)
		}

		// Create: from a file, from stdin (piped, so not a terminal), with --password-stdin.
		out := ok(t, env, "", "users", "create", "--email", "Root@Example.com", "--role", "admin", "--name", "Root",
			"--password-file", writePassword(t, goodPassword))
		if !strings.Contains(out, "created user root@example.com") || !strings.Contains(out, "user,admin") {
			t.Fatalf("users create printed %q", out)
		}
		ok(t, env, "stdin horse battery\n", "users", "create", "--email", "mod@example.com", "--role", "moderator", "--username", "mod")
		ok(t, env, "third horse battery\n", "users", "create", "--email", "third@example.com", "--password-stdin")

		// Never a password on the command line; the password policy applies; no duplicates.
		fails(t, env, "", "unknown flag: --password", "users", "create", "--email", "x@example.com", "--password", goodPassword)
		fails(t, env, "password\n", "password_too_common", "users", "create", "--email", "x@example.com")
		fails(t, env, "short\n", "password_too_short", "users", "create", "--email", "x@example.com")
		fails(t, env, "", "no password on stdin", "users", "create", "--email", "x@example.com")
		fails(t, env, "another horse battery\n", "already taken", "users", "create", "--email", "root@example.com")
		fails(t, env, "", `unknown role "root"`, "users", "create", "--email", "x@example.com", "--role", "root")

		// The admin made by the CLI logs in and passes the admin check.
		rootAccess, _ := login(t, base, "root@example.com", goodPassword)
		if code, body := call(t, "GET", base+"/api/test/admin", rootAccess, ""); code != 200 {
			t.Fatalf("/api/test/admin for the CLI's admin: %d %s", code, body)
		}

		// List: a table by default, JSON on request, filters.
		table := ok(t, env, "", "users", "list")
		for _, want := range []string{"ID", "EMAIL", "ROLES", "root@example.com", "mod@example.com", "user,moderator", "plain@example.com"} {
			if !strings.Contains(table, want) {
				t.Fatalf("users list lacks %q:\n%s", want, table)
			}
		}
		if users := listedUsers(t, env); len(users) != 4 {
			t.Fatalf("users list --json: %d users, want 4", len(users))
		}
		if users := listedUsers(t, env, "--role", "admin"); len(users) != 1 || users[0].Email != "root@example.com" {
			t.Fatalf("admins: %+v", users)
		}
		if users := listedUsers(t, env, "--q", "mod"); len(users) != 1 || users[0].Email != "mod@example.com" {
			t.Fatalf("--q mod: %+v", users)
		}
		if users := listedUsers(t, env, "--limit", "2"); len(users) != 2 || users[0].Email != "plain@example.com" {
			t.Fatalf("--limit 2 (creation order): %+v", users)
		}

		// set-roles reaches the user's live session at once (strict sessions).
		modAccess, modRefresh := login(t, base, "mod@example.com", "stdin horse battery")
		if code, _ := call(t, "GET", base+"/api/test/mod", modAccess, ""); code != 200 {
			t.Fatalf("/api/test/mod for a moderator: %d", code)
		}
		out = ok(t, env, "", "users", "set-roles", "--email", "mod@example.com", "--role", "user")
		if !strings.Contains(out, "roles of mod@example.com") || !strings.Contains(out, "were user,moderator") {
			t.Fatalf("set-roles printed %q", out)
		}
		if code, _ := call(t, "GET", base+"/api/test/mod", modAccess, ""); code != 403 {
			t.Fatalf("/api/test/mod after demotion: %d, want 403", code)
		}
		if users := listedUsers(t, env, "--q", "mod"); strings.Join(users[0].Roles, ",") != "user" {
			t.Fatalf("roles after set-roles: %v", users[0].Roles)
		}

		// sessions revoke ends the session made over HTTP: its access and refresh tokens die.
		out = ok(t, env, "", "sessions", "revoke", "--user", "mod@example.com")
		if !strings.Contains(out, "revoked 1 session(s) of mod@example.com") {
			t.Fatalf("sessions revoke printed %q", out)
		}
		if code, _ := call(t, "GET", base+"/api/users/me", modAccess, ""); code != 401 {
			t.Fatalf("/api/users/me after sessions revoke: %d, want 401", code)
		}
		if code, _ := call(t, "POST", base+"/api/auth/refresh", "", `{"refresh_token":"`+modRefresh+`"}`); code != 401 {
			t.Fatalf("refresh after sessions revoke: %d, want 401", code)
		}
		mod := listedUsers(t, env, "--q", "mod")[0]
		ok(t, env, "", "sessions", "revoke", "--user", mod.ID) // by id too

		// disable ends sessions and refuses login; enable lets the user back in.
		thirdAccess, _ := login(t, base, "third@example.com", "third horse battery")
		if out := ok(t, env, "", "users", "disable", "--id", listedUsers(t, env, "--q", "third")[0].ID); !strings.Contains(out, "disabled third@example.com") {
			t.Fatalf("disable printed %q", out)
		}
		if code, _ := call(t, "GET", base+"/api/users/me", thirdAccess, ""); code != 401 {
			t.Fatalf("/api/users/me of a disabled user: %d, want 401", code)
		}
		if code, _ := call(t, "POST", base+"/api/auth/login", "", `{"email":"third@example.com","password":"third horse battery"}`); code != 401 {
			t.Fatalf("login of a disabled user: %d, want 401", code)
		}
		if users := listedUsers(t, env, "--disabled"); len(users) != 1 || users[0].Email != "third@example.com" {
			t.Fatalf("--disabled: %+v", users)
		}
		if users := listedUsers(t, env, "--disabled=false"); len(users) != 3 {
			t.Fatalf("--disabled=false: %+v", users)
		}
		ok(t, env, "", "users", "enable", "--email", "third@example.com")
		login(t, base, "third@example.com", "third horse battery")

		// delete asks for --yes when it cannot ask.
		fails(t, env, "y\n", "--yes", "users", "delete", "--email", "third@example.com")
		if out := ok(t, env, "", "users", "delete", "--email", "third@example.com", "--yes"); !strings.Contains(out, "deleted third@example.com") {
			t.Fatalf("delete printed %q", out)
		}
		if users := listedUsers(t, env); len(users) != 3 {
			t.Fatalf("after delete: %d users, want 3", len(users))
		}

		// Errors: one line, non-zero.
		fails(t, env, "", "no user with email nobody@example.com", "users", "disable", "--email", "nobody@example.com")
		fails(t, env, "", `no user with id "01900000-0000-7000-8000-000000000000"`, "sessions", "revoke", "--user", "01900000-0000-7000-8000-000000000000")
		fails(t, env, "", "last admin", "users", "set-roles", "--email", "root@example.com", "--role", "user")
		fails(t, env, "", "last admin", "users", "delete", "--email", "root@example.com", "--yes")
		fails(t, env, "", "[email id]", "users", "disable")
		fails(t, append(env[:len(env):len(env)], "PORTCULLIS_ACCESS_TTL=soon"), "", "PORTCULLIS_ACCESS_TTL", "users", "list")

		// The audit trail shows what the operator did, with no actor, newest last.
		trail := ok(t, env, "", "audit", "tail", "--user", mod.ID)
		lines := strings.Split(strings.TrimSpace(trail), "\n")
		if len(lines) < 3 || !strings.Contains(lines[0], "register") || !strings.Contains(trail, "role_change") ||
			!strings.Contains(lines[len(lines)-1], "logout_all") || !strings.Contains(trail, "actor=-") {
			t.Fatalf("audit tail --user:\n%s", trail)
		}
		if trail := ok(t, env, "", "audit", "tail", "--event", "user_delete"); strings.Count(trail, "user_delete") != 1 {
			t.Fatalf("audit tail --event user_delete:\n%s", trail)
		}
		if trail := ok(t, env, "", "audit", "tail", "--limit", "2"); len(strings.Split(strings.TrimSpace(trail), "\n")) != 2 {
			t.Fatalf("audit tail --limit 2:\n%s", trail)
		}
		for _, secret := range []string{goodPassword, "stdin horse battery", modRefresh} {
			if strings.Contains(logs.String(), secret) || strings.Contains(ok(t, env, "", "audit", "tail", "--limit", "200"), secret) {
				t.Fatalf("a secret reached the logs or the audit trail: %q", secret)
			}
		}
	})
}

// TestBootstrapAdmin: with the bootstrap settings, the first start creates the admin and the
// second finds it: exactly one admin across two starts, and the password is never logged.
func TestBootstrapAdmin(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		env = append(env, "PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL=Boot@Example.com",
			"PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE="+writePassword(t, goodPassword))
		var logs []string
		for range 2 {
			cmd, base, l := serve(t, env...)
			access, _ := login(t, base, "boot@example.com", goodPassword)
			if code, body := call(t, "GET", base+"/api/test/admin", access, ""); code != 200 {
				t.Fatalf("/api/test/admin for the bootstrap admin: %d %s", code, body)
			}
			stop(t, cmd)
			logs = append(logs, l.String())
		}
		if !strings.Contains(logs[0], "bootstrap admin created") || strings.Contains(logs[1], "bootstrap admin created") {
			t.Fatalf("want the admin created on the first start only:\nfirst:\n%s\nsecond:\n%s", logs[0], logs[1])
		}
		if strings.Contains(logs[0]+logs[1], goodPassword) {
			t.Fatal("the bootstrap password reached the logs")
		}
		if users := listedUsers(t, env, "--role", "admin"); len(users) != 1 || users[0].Email != "boot@example.com" {
			t.Fatalf("admins after two starts: %+v", users)
		}
	})
}

// TestKeyRotationUnderTraffic: two instances share one database and reload keys every second;
// a client keeps logging in and refreshing on one and calling /api/users/me on both while
// `keys rotate` runs twice. Not one request is refused (SECURITY C29, H59); both publish the
// new key, and a token it signed verifies on both.
func TestKeyRotationUnderTraffic(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		env = append(env, "PORTCULLIS_KEY_RELOAD_INTERVAL=1s")
		// One instance first: it makes the first signing key, which the second then loads.
		_, a, _ := serve(t, env...)
		_, b, _ := serve(t, env...)
		if code, body := call(t, "POST", a+"/api/auth/register", "", `{"email":"traffic@example.com","password":"`+goodPassword+`"}`); code != 201 {
			t.Fatalf("register: %d %s", code, body)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var (
			mu       sync.Mutex
			target   string // the kid the loop waits to see verified on both
			reached  bool   // a token of target verified on both
			kids     = map[string]int{}
			statuses = map[int]int{}
			problems []string
		)
		note := func(what string, code int, err error) bool {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", what, err))
				return false
			}
			statuses[code]++
			if code != 200 {
				problems = append(problems, fmt.Sprintf("%s: %d", what, code))
				return false
			}
			return true
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				code, body, err := tryCall("POST", a+"/api/auth/login", "", `{"email":"traffic@example.com","password":"`+goodPassword+`"}`)
				if !note("login on A", code, err) {
					return
				}
				access, refresh := field(body, "access_token"), field(body, "refresh_token")
				for i := 0; i < 5 && ctx.Err() == nil; i++ {
					kid := tokenKID(access)
					codeA, _, errA := tryCall("GET", a+"/api/users/me", access, "")
					okA := note("me on A", codeA, errA)
					codeB, _, errB := tryCall("GET", b+"/api/users/me", access, "")
					okB := note("me on B", codeB, errB)
					mu.Lock()
					kids[kid]++
					if okA && okB && kid != "" && kid == target {
						reached = true
					}
					stopNow := reached
					mu.Unlock()
					if stopNow {
						return
					}
					code, body, err := tryCall("POST", a+"/api/auth/refresh", "", `{"refresh_token":"`+refresh+`"}`)
					if !note("refresh on A", code, err) {
						return
					}
					access, refresh = field(body, "access_token"), field(body, "refresh_token")
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()

		time.Sleep(time.Second)
		kid1 := rotatedKID(t, ok(t, env, "", "keys", "rotate"))
		time.Sleep(3 * time.Second) // kid1 signs from 2 s after its rotation
		kid2 := rotatedKID(t, ok(t, env, "", "keys", "rotate"))
		mu.Lock()
		target = kid2
		mu.Unlock()
		<-done

		mu.Lock()
		defer mu.Unlock()
		t.Logf("statuses %v; tokens by kid %v", statuses, kids)
		if len(problems) > 0 {
			t.Fatalf("requests failed during rotation: %v", problems)
		}
		if !reached {
			t.Fatalf("no token signed by %s verified on both instances in time (tokens by kid: %v)", kid2, kids)
		}
		if kids[kid1] == 0 {
			t.Errorf("the first rotated key %s never signed a token the client used", kid1)
		}
		for _, base := range []string{a, b} {
			_, jwks := call(t, "GET", base+"/.well-known/jwks.json", "", "")
			if !strings.Contains(jwks, kid2) || !strings.Contains(jwks, kid1) {
				t.Errorf("%s JWKS lacks %s or %s (the previous key stays published):\n%s", base, kid2, kid1, jwks)
			}
		}
		list := ok(t, env, "", "keys", "list")
		if !regexp.MustCompile(kid2 + `\s+\S+\s+\S+\s+active`).MatchString(list) {
			t.Errorf("keys list does not show %s active:\n%s", kid2, list)
		}
		if trail := ok(t, env, "", "audit", "tail", "--event", "key_rotation"); strings.Count(trail, "key_rotation") != 2 ||
			!strings.Contains(trail, "kid="+kid2) {
			t.Errorf("audit trail of the rotations:\n%s", trail)
		}
	})
}

var rotatedRE = regexp.MustCompile(`new key (\S+) `)

// rotatedKID picks the new kid out of the output of `keys rotate`.
func rotatedKID(t *testing.T, out string) string {
	t.Helper()
	m := rotatedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed no new kid:\n%s", out)
	}
	return m[1]
}

// tokenKID reads the kid from a JWT's header without verifying it.
func tokenKID(token string) string {
	header, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.KID
}

// TestAuditTailFollow: `audit tail --follow` prints events as they are appended, newest last,
// and an interrupt ends it cleanly.
func TestAuditTailFollow(t *testing.T) {
	env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir()}
	ok(t, env, "first horse battery\n", "users", "create", "--email", "first@example.com")
	tail := command(t, env, "audit", "tail", "--follow")
	out := &testenv.Buffer{}
	var stderr bytes.Buffer
	tail.Stdout, tail.Stderr = out, &stderr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tail.Process.Kill(); _, _ = tail.Process.Wait() })
	waitFor(t, out, "register", 15*time.Second)
	ok(t, env, "second horse battery\n", "users", "create", "--email", "second@example.com", "--role", "moderator")
	waitFor(t, out, "roles=user,moderator", 15*time.Second)
	if err := tail.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := tail.Wait(); err != nil {
		t.Fatalf("audit tail --follow after an interrupt: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "roles=user,moderator") {
		t.Fatalf("audit tail --follow printed:\n%s", out)
	}
}

// waitFor waits until out contains want.
func waitFor(t *testing.T, out *testenv.Buffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in time; output:\n%s", want, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The operator finds an account by any spelling of its e-mail address (fullwidth, case), and
// `users renormalize` reports on the stored identities; `migrate up` ran its migration.
func TestUsersRenormalizeCLI(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		ok(t, env, goodPassword+"\n", "users", "create", "--email", "Ann@Example.com", "--username", "ａｎｎ")
		out := ok(t, env, "", "users", "enable", "--email", "ＡＮＮ＠example.com")
		if !strings.Contains(out, "ann@example.com") {
			t.Fatalf("enable by a fullwidth address printed %q", out)
		}
		out = ok(t, env, "", "users", "renormalize", "--dry-run")
		if !strings.Contains(out, "1 users scanned, 0 identities would renormalise, 0 collisions, 0 refused") {
			t.Fatalf("users renormalize --dry-run printed %q", out)
		}
		fails(t, env, "another horse battery\n", "already taken", "users", "create", "--email", "ａｎｎ@example.com")
		if out := ok(t, env, "", "migrate", "status"); !strings.Contains(out, "renormalize_identities") || strings.Contains(out, "pending") {
			t.Fatalf("migrate status:\n%s", out)
		}
	})
}

// `users unlock` reaches the login limits only where every server keeps them, in Redis. With the
// sql or memory session store each server counts in its own memory: the command refuses, in one
// line naming the route to use instead, and records no unlock that did not happen. With Redis it
// shows and lifts the lock the server put on the account.
func TestUsersUnlockCLI(t *testing.T) {
	// lockOut creates ada and fails her logins on base until the server throttles them.
	lockOut := func(t *testing.T, env []string, base string) string {
		t.Helper()
		ok(t, env, goodPassword+"\n", "users", "create", "--email", "ada@example.com")
		for i := 0; ; i++ {
			code, body := call(t, "POST", base+"/api/auth/login", "", `{"email":"ada@example.com","password":"wrong horse battery"}`)
			if code == 429 {
				break
			}
			if code != 401 || i == 10 {
				t.Fatalf("wrong password %d: %d %s", i+1, code, body)
			}
		}
		return listedUsers(t, env, "--q", "ada")[0].ID
	}
	for _, store := range []string{"sql", "memory"} {
		t.Run(store, func(t *testing.T) {
			env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_SESSION_STORE=" + store}
			var id string
			if store == "sql" {
				_, base, _ := serve(t, env...)
				id = lockOut(t, env, base)
			} else {
				ok(t, env, goodPassword+"\n", "users", "create", "--email", "ada@example.com")
				id = listedUsers(t, env, "--q", "ada")[0].ID
			}
			want := "each server's memory with the sql and memory session stores, out of this command's reach: use POST /api/users/" + id + "/unlock"
			fails(t, env, "", want, "users", "unlock", "--email", "ada@example.com", "--status")
			fails(t, env, "", want, "users", "unlock", "--email", "ada@example.com")
			if trail := ok(t, env, "", "audit", "tail", "--event", "user_unlock"); strings.TrimSpace(trail) != "no audit events" {
				t.Fatalf("an unlock that did not happen was audited:\n%s", trail)
			}
		})
	}
	t.Run("redis", func(t *testing.T) {
		env := []string{"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_SESSION_STORE=" + testenv.RedisURL(t),
			"PORTCULLIS_REDIS_KEY_PREFIX=" + testenv.RedisPrefix(t)}
		_, base, _ := serve(t, env...)
		id := lockOut(t, env, base)
		if out := ok(t, env, "", "users", "unlock", "--email", "ada@example.com", "--status"); !strings.Contains(out, id) ||
			strings.Contains(out, "not locked") {
			t.Fatalf("unlock --status of a throttled account printed %q", out)
		}
		if out := ok(t, env, "", "users", "unlock", "--email", "ada@example.com"); !strings.Contains(out, "unlocked ada@example.com") {
			t.Fatalf("unlock printed %q", out)
		}
		login(t, base, "ada@example.com", goodPassword)
		if trail := ok(t, env, "", "audit", "tail", "--event", "user_unlock"); strings.Count(trail, "user_unlock") != 1 {
			t.Fatalf("audit tail --event user_unlock:\n%s", trail)
		}
	})
}
