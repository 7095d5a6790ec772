package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/cmd/portcullis/app"
	"github.com/portcullis-auth/portcullis/config"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// testOrigin is the browser origin every server allows; evilOrigin is one it does not.
const (
	testOrigin = "https://app.example.test"
	evilOrigin = "https://evil.example"
)

// redisPrefixVar is not a Portcullis setting: it carries, through the env map, the key prefix
// the harness gives the Redis session store so that each test's keys are its own and are
// deleted when it ends (app.Options does not take the prefix from the config).
const redisPrefixVar = "E2E_REDIS_KEY_PREFIX"

// server is one running Portcullis.
type server struct {
	t       *testing.T
	URL     string // http://127.0.0.1:PORT
	DataDir string
	Env     map[string]string // the environment it was started with
	Config  config.Config
	Logs    *testenv.Buffer

	app      *fx.App
	stopOnce sync.Once
}

// startServer builds the service from env (over the harness defaults), starts it on a free
// loopback port and stops it when the test ends. extra options join the graph (for example
// fx.Populate of a use case, to act as the operator's command line does).
func startServer(t *testing.T, env map[string]string, extra ...fx.Option) *server {
	t.Helper()
	full := map[string]string{
		"PORTCULLIS_ADDR":            "127.0.0.1:0",
		"PORTCULLIS_DATA_DIR":        t.TempDir(),
		"PORTCULLIS_PUBLIC_URL":      "http://localhost:8080",
		"PORTCULLIS_ALLOWED_ORIGINS": testOrigin,
		"PORTCULLIS_LOG_LEVEL":       "debug",
		"PORTCULLIS_LOG_FORMAT":      "json",
	}
	// Tests register and fail logins by the dozen from one loopback address: limits far above
	// that, so only the throttling tests (which set their own) meet a 429.
	maps.Copy(full, generousLimits)
	maps.Copy(full, env)
	environ := make([]string, 0, len(full))
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}
	cfg, err := config.LoadFrom(environ, app.Parsers)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &testenv.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var httpServer *httpapi.Server
	opts := []fx.Option{app.Options(cfg, logger), fx.Populate(&httpServer), fx.StartTimeout(30 * time.Second)}
	if prefix := full[redisPrefixVar]; prefix != "" && strings.HasPrefix(cfg.SessionStore, "redis") {
		opts = append(opts, fx.Decorate(func(c redisstore.Config) redisstore.Config {
			c.Prefix = prefix
			return c
		}))
	}
	opts = append(opts, extra...)
	fxApp := fx.New(opts...)
	if err := fxApp.Err(); err != nil {
		t.Fatalf("build the app: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fxApp.Start(ctx); err != nil {
		t.Fatalf("start the app: %v\nlogs:\n%s", err, tail(logs.String(), 20))
	}
	s := &server{t: t, URL: "http://" + httpServer.Addr().String(), DataDir: full["PORTCULLIS_DATA_DIR"],
		Env: full, Config: cfg, Logs: logs, app: fxApp}
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("last log lines of %s:\n%s", s.URL, tail(logs.String(), 15))
		}
	})
	return s
}

// generousLimits are throttling limits no functional test reaches.
var generousLimits = map[string]string{
	"PORTCULLIS_RATE_LOGIN_ACCOUNT": "10000/1m", "PORTCULLIS_RATE_LOGIN_IP": "10000/1m",
	"PORTCULLIS_RATE_ACCOUNT_LOCK": "10000/15m", "PORTCULLIS_RATE_IP_LOCK": "10000/15m",
	"PORTCULLIS_RATE_REGISTER_IP": "10000/1h", "PORTCULLIS_RATE_TOKEN_GUESS_IP": "10000/10m",
}

// stop stops the app (once); later calls do nothing.
func (s *server) stop() {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.app.Stop(ctx); err != nil {
			s.t.Errorf("stop the app: %v", err)
		}
	})
}

// dbPath is the SQLite file of a server on the default database.
func (s *server) dbPath() string { return filepath.Join(s.DataDir, "portcullis.db") }

func tail(logs string, n int) string {
	lines := strings.Split(strings.TrimRight(logs, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// backend is one configuration of database and session store.
type backend struct {
	name string
	// env returns the settings for a test (creating a fresh database or key prefix); it skips
	// the test when its service is not configured.
	env func(t *testing.T) map[string]string
	// persistent is false when sessions live in the process (memory).
	persistent bool
}

// backends lists every configuration. SQLite ones always run; the others need testenv URLs.
func backends() []backend {
	return []backend{
		{name: "sqlite-sql", persistent: true, env: func(t *testing.T) map[string]string { return map[string]string{} }},
		{name: "sqlite-memory", env: func(t *testing.T) map[string]string {
			return map[string]string{"PORTCULLIS_SESSION_STORE": "memory"}
		}},
		{name: "mysql-redis", persistent: true, env: func(t *testing.T) map[string]string {
			return map[string]string{"PORTCULLIS_DATABASE_URL": testenv.MySQLURL(t),
				"PORTCULLIS_SESSION_STORE": testenv.RedisURL(t), redisPrefixVar: testenv.RedisPrefix(t)}
		}},
		{name: "postgres-sql", persistent: true, env: func(t *testing.T) map[string]string {
			return map[string]string{"PORTCULLIS_DATABASE_URL": testenv.PostgresURL(t)}
		}},
		{name: "postgres-redis", persistent: true, env: func(t *testing.T) map[string]string {
			return map[string]string{"PORTCULLIS_DATABASE_URL": testenv.PostgresURL(t),
				"PORTCULLIS_SESSION_STORE": testenv.RedisURL(t), redisPrefixVar: testenv.RedisPrefix(t)}
		}},
		{name: "mysql-rediscluster", persistent: true, env: func(t *testing.T) map[string]string {
			addrs := testenv.RedisClusterAddrs(t)
			return map[string]string{"PORTCULLIS_DATABASE_URL": testenv.MySQLURL(t),
				"PORTCULLIS_SESSION_STORE": "redis+cluster://" + strings.Join(addrs, ","),
				redisPrefixVar:             testenv.RedisClusterPrefix(t)}
		}},
	}
}

// client is an HTTP client with its own cookie jar. Like a browser, it sends Origin (an allowed
// one by default) on every request that is not GET or HEAD; set origin to "" to act like curl.
type client struct {
	t      *testing.T
	base   string
	http   *http.Client
	jar    *cookiejar.Jar
	origin string
}

// apiClient is a non-browser client: no cookie jar, no Origin (like curl with a Bearer token).
func (s *server) apiClient() *client {
	c := s.client()
	c.http.Jar, c.jar, c.origin = nil, nil, ""
	return c
}

// in returns a copy of c that reports to t (use it inside subtests).
func (c *client) in(t *testing.T) *client {
	cc := *c
	cc.t = t
	return &cc
}

func (s *server) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &client{t: s.t, base: s.URL, jar: jar, origin: testOrigin,
		http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// resp is a response read in full.
type resp struct {
	t      *testing.T
	req    string
	Status int
	Header http.Header
	Body   []byte
}

// header pairs: do(..., "Authorization", "Bearer x"). A pair with an empty value removes a
// header the client would set (Content-Type, Origin).
func (c *client) do(method, path string, body any, headers ...string) *resp {
	c.t.Helper()
	r, err := c.try(method, path, body, headers...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (c *client) try(method, path string, body any, headers ...string) (*resp, error) {
	var (
		rd      io.Reader
		reqBody []byte
	)
	switch b := body.(type) {
	case nil:
	case string:
		reqBody = []byte(b)
	case []byte:
		reqBody = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		reqBody = raw
	}
	if body != nil {
		rd = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.origin != "" && method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Origin", c.origin)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	checkContract(c.t, req, reqBody, res, raw) // every exchange must match openapi.yaml
	return &resp{t: c.t, req: method + " " + path, Status: res.StatusCode, Header: res.Header, Body: raw}, nil
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// cookie returns the value of the jar's cookie name for path, or "".
func (c *client) cookie(path, name string) string {
	if c.jar == nil {
		return ""
	}
	u, _ := url.Parse(c.base + path)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// expect fails the test unless the status is want.
func (r *resp) expect(want int) *resp {
	r.t.Helper()
	if r.Status != want {
		r.t.Fatalf("%s: status %d, want %d; body: %s", r.req, r.Status, want, truncate(string(r.Body), 600))
	}
	return r
}

// decode unmarshals the JSON body into v.
func (r *resp) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: decode %q: %v", r.req, truncate(string(r.Body), 300), err)
	}
}

// problem is an RFC 9457 body as the API writes it.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// expectProblem fails unless the response is a problem+json with this status and code, and
// returns it.
func (r *resp) expectProblem(status int, code string) problem {
	r.t.Helper()
	r.expect(status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		r.t.Fatalf("%s: Content-Type %q, want application/problem+json; body: %s", r.req, ct, truncate(string(r.Body), 300))
	}
	var p problem
	r.decode(&p)
	if p.Code != code || p.Status != status {
		r.t.Fatalf("%s: problem status %d code %q, want %d %q; body: %s", r.req, p.Status, p.Code, status, code, truncate(string(r.Body), 600))
	}
	if p.Type == "" || p.Title == "" {
		r.t.Errorf("%s: problem without type or title: %s", r.req, r.Body)
	}
	if p.RequestID == "" || p.RequestID != r.Header.Get("X-Request-Id") {
		r.t.Errorf("%s: problem request_id %q, X-Request-Id %q", r.req, p.RequestID, r.Header.Get("X-Request-Id"))
	}
	return p
}

// fieldCode returns the code of the field's error in p, or "".
func (p problem) fieldCode(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Code
		}
	}
	return ""
}

// setCookies parses the response's Set-Cookie headers by name.
func (r *resp) setCookies() map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, ck := range (&http.Response{Header: r.Header}).Cookies() {
		out[ck.Name] = ck
	}
	return out
}

// rawSetCookie returns the raw Set-Cookie line for name, or "".
func (r *resp) rawSetCookie(name string) string {
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// API shapes.

type user struct {
	ID            string   `json:"id"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Username      string   `json:"username"`
	Name          string   `json:"name"`
	Roles         []string `json:"roles"`
	CreatedAt     string   `json:"created_at"`
	UpdatedAt     string   `json:"updated_at"`
}

type tokens struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	User             *user  `json:"user"`
}

type sessionView struct {
	ID         string   `json:"id"`
	CreatedAt  string   `json:"created_at"`
	LastUsedAt string   `json:"last_used_at"`
	IP         string   `json:"ip"`
	UserAgent  string   `json:"user_agent"`
	Current    bool     `json:"current"`
	AMR        []string `json:"amr"`
}

// account is a registered user with its password.
type account struct {
	Email, Username, Password string
	User                      user
}

// goodPassword is the password test accounts are registered with (not a common one).
const goodPassword = "correct horse battery staple"

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// register creates a fresh account and checks the 201 answer.
func (c *client) register(t *testing.T) account {
	t.Helper()
	id := randHex(5)
	a := account{Email: "user-" + id + "@example.com", Username: "u_" + id, Password: goodPassword}
	r := c.do("POST", "/api/auth/register", map[string]string{"email": a.Email, "password": a.Password, "username": a.Username, "name": "User " + id})
	r.expect(http.StatusCreated)
	var out struct {
		User user `json:"user"`
	}
	r.decode(&out)
	a.User = out.User
	if out.User.ID == "" || out.User.Email != a.Email || !slices.Equal(out.User.Roles, []string{"user"}) {
		t.Fatalf("register: unexpected user %s", r.Body)
	}
	return a
}

// login logs in by email and checks the 200 answer.
func (c *client) login(t *testing.T, a account) tokens {
	t.Helper()
	return c.loginWith(t, map[string]string{"email": a.Email, "password": a.Password})
}

func (c *client) loginWith(t *testing.T, body map[string]string) tokens {
	t.Helper()
	r := c.do("POST", "/api/auth/login", body).expect(http.StatusOK)
	var tk tokens
	r.decode(&tk)
	if tk.AccessToken == "" || tk.RefreshToken == "" || tk.TokenType != "Bearer" || tk.User == nil {
		t.Fatalf("login: unexpected body %s", r.Body)
	}
	return tk
}

// refresh presents a refresh token in the body.
func (c *client) refresh(refreshToken string) *resp {
	c.t.Helper()
	return c.do("POST", "/api/auth/refresh", map[string]string{"refresh_token": refreshToken})
}

// me calls GET /api/users/me with a bearer token and returns the status.
func (c *client) meStatus(token string) int {
	c.t.Helper()
	return c.do("GET", "/api/users/me", nil, bearer(token)...).Status
}

// claims decodes (without verifying) a JWT's header and payload.
type jwtParts struct {
	Header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}
	Claims struct {
		Sub   string   `json:"sub"`
		Sid   string   `json:"sid"`
		Roles []string `json:"roles"`
		Iss   string   `json:"iss"`
		Exp   int64    `json:"exp"`
		Jti   string   `json:"jti"`
		AMR   []string `json:"amr"`
		ACR   string   `json:"acr"`
	}
}

func parseJWT(t *testing.T, token string) jwtParts {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a compact JWS: %q", truncate(token, 80))
	}
	var p jwtParts
	for i, dst := range []any{&p.Header, &p.Claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return p
}

// jwksKids returns the kids published at /.well-known/jwks.json.
func (c *client) jwksKids(t *testing.T) []string {
	t.Helper()
	r := c.do("GET", "/.well-known/jwks.json", nil).expect(http.StatusOK)
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	r.decode(&set)
	var kids []string
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS publishes the private member %q", private)
			}
		}
		kid, _ := k["kid"].(string)
		kids = append(kids, kid)
	}
	return kids
}

// parallelRun runs f n times at once and waits for all.
func parallelRun(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
