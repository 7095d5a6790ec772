package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// binary is the portcullis command, built once for this package.
var binary string

func TestMain(m *testing.M) { os.Exit(testenv.RunWithBinary(m, &binary)) }

// client is every test request's client: a dead instance or node fails fast, never hangs.
var client = &http.Client{Timeout: 15 * time.Second}

// instance is one running portcullis binary.
type instance struct {
	cmd  *exec.Cmd
	base string
	logs *testenv.Buffer
}

// deployment is three instances sharing one database (and session store).
type deployment struct {
	t         *testing.T
	env       []string // shared settings, without DATABASE_URL and ADDR
	urls      []string // per-node URLs of the database
	instances []*instance
	adminPass string
}

// multiHost is the database URL of instance i: every node, node i first (see sqlstore galera.go).
func multiHost(urls []string, i int) string {
	var hosts []string
	for k := range urls {
		hosts = append(hosts, hostOf(urls[(i+k)%len(urls)]))
	}
	first := hostOf(urls[0])
	return strings.Replace(urls[0], first, strings.Join(hosts, ","), 1)
}

func hostOf(u string) string {
	rest := u[strings.Index(u, "://")+3:]
	rest = rest[strings.LastIndex(rest[:strings.IndexAny(rest+"/", "/")], "@")+1:]
	return rest[:strings.IndexAny(rest+"/", "/?")]
}

// deploy starts three instances at once, instance i preferring Galera node i, with sessions in
// sessionStore ("sql" or a redis+cluster:// URL, optionally followed by lines of further
// NAME=value settings), and waits until each is ready.
func deploy(t *testing.T, sessionStore string) *deployment {
	t.Helper()
	urls := testenv.GaleraURLs(t)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	passFile := filepath.Join(t.TempDir(), "admin-password")
	adminPass := "cluster admin " + rand.Text()
	if err := os.WriteFile(passFile, []byte(adminPass), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, urls: urls, adminPass: adminPass, env: []string{
		"PORTCULLIS_SESSION_STORE=" + sessionStore,
		"PORTCULLIS_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek),
		"PORTCULLIS_KEY_RELOAD_INTERVAL=1s",
		"PORTCULLIS_RATE_LIMITS=off",
		"PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL=admin@cluster.example",
		"PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE=" + passFile,
		"PORTCULLIS_LOG_FORMAT=json", "PORTCULLIS_LOG_LEVEL=warn",
		"PORTCULLIS_REQUEST_TIMEOUT=10s",
	}}
	d.env = append(d.env, strings.Split(d.env[0], "\n")[1:]...)
	d.env[0], _, _ = strings.Cut(d.env[0], "\n")
	var wg sync.WaitGroup
	d.instances = make([]*instance, len(urls))
	errs := make([]error, len(urls))
	for i := range urls {
		wg.Go(func() { d.instances[i], errs[i] = d.start(i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i+1, err)
		}
	}
	return d
}

// start runs instance i and waits for /readyz.
func (d *deployment) start(i int) (*instance, error) {
	addr := testenv.FreeAddr(d.t)
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.t.TempDir(),
		"PORTCULLIS_ADDR=" + addr, "PORTCULLIS_DATA_DIR=" + d.t.TempDir(),
		"PORTCULLIS_DATABASE_URL=" + multiHost(d.urls, i)}, d.env...)
	in := &instance{cmd: cmd, base: "http://" + addr, logs: &testenv.Buffer{}}
	cmd.Stdout, cmd.Stderr = in.logs, in.logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if d.t.Failed() {
			d.t.Logf("instance %d logs:\n%s", i+1, in.logs)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(in.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return in, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("not ready within 90s; logs:\n%s", in.logs)
}

// call sends a JSON request (body may be nil) with an optional bearer token and decodes a JSON
// answer. A transport error is reported as status 0.
func call(ctx context.Context, method, url, token string, body any) (int, map[string]any) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// tokens are a login's or refresh's answer.
type tokens struct{ access, refresh string }

func tokensOf(out map[string]any) tokens {
	a, _ := out["access_token"].(string)
	r, _ := out["refresh_token"].(string)
	return tokens{a, r}
}

func (d *deployment) url(i int, path string) string {
	return d.instances[i%len(d.instances)].base + path
}

// register creates an account through instance i and reports its id.
func (d *deployment) register(ctx context.Context, i int, email, password string) (int, string) {
	code, out := call(ctx, http.MethodPost, d.url(i, "/api/auth/register"), "", map[string]string{"email": email, "password": password})
	user, _ := out["user"].(map[string]any)
	id, _ := user["id"].(string)
	return code, id
}

// login logs in through instance i.
func (d *deployment) login(ctx context.Context, i int, email, password string) (int, tokens) {
	code, out := call(ctx, http.MethodPost, d.url(i, "/api/auth/login"), "", map[string]string{"email": email, "password": password})
	return code, tokensOf(out)
}

// mustLogin logs in through instance i or fails the test.
func (d *deployment) mustLogin(ctx context.Context, i int, email, password string) tokens {
	d.t.Helper()
	code, tk := d.login(ctx, i, email, password)
	if code != http.StatusOK || tk.access == "" {
		d.t.Fatalf("login %s through instance %d: %d", email, i+1, code)
	}
	return tk
}

// mustRegister registers and returns the user id, or fails the test.
func (d *deployment) mustRegister(ctx context.Context, i int, email, password string) string {
	d.t.Helper()
	code, id := d.register(ctx, i, email, password)
	if code != http.StatusCreated || id == "" {
		d.t.Fatalf("register %s through instance %d: %d", email, i+1, code)
	}
	return id
}

func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%s@cluster.example", prefix, strings.ToLower(rand.Text()[:10]))
}
