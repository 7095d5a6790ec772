package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/adapters/passkey"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The fakes below stand in for the token and password adapters so the HTTP tests stay fast and
// independent; users and sessions are the real memory adapters.

// fakeHasher "hashes" by prefixing; enough to exercise the use cases.
type fakeHasher struct{}

func (fakeHasher) Hash(_ context.Context, pw string) (string, error) { return "fake$" + pw, nil }
func (fakeHasher) Check(string) *domain.FieldError                   { return nil }
func (fakeHasher) Verify(_ context.Context, hash, pw string) (bool, bool, error) {
	return hash == "fake$"+pw, false, nil
}

// fakeTokens issues opaque random access tokens and remembers their claims.
type fakeTokens struct {
	mu     sync.Mutex
	claims map[string]domain.AccessClaims
}

func (f *fakeTokens) Issue(_ context.Context, c domain.AccessClaims) (string, error) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	tok := "at." + hex.EncodeToString(b)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims[tok] = c
	return tok, nil
}

func (f *fakeTokens) Verify(_ context.Context, tok string) (domain.AccessClaims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[tok]
	if !ok || time.Now().After(c.ExpiresAt) {
		return domain.AccessClaims{}, domain.ErrUnauthenticated
	}
	return c, nil
}

type clock struct{}

func (clock) Now() time.Time { return time.Now().UTC() }

type ids struct{ n atomic.Int64 }

func (i *ids) NewID() string { return fmt.Sprintf("id%06d", i.n.Add(1)) }

// faultySessions is the memory session store with a switch that makes every call fail as an
// unreachable Redis would.
type faultySessions struct {
	*memstore.Sessions
	down atomic.Bool
	slow atomic.Bool // Get hangs until the request's context ends, as a stalled database would
}

var errDown = fmt.Errorf("redis: dial tcp 10.1.2.3:6379: connection refused: %w", domain.ErrUnavailable)

func (f *faultySessions) Get(ctx context.Context, id string, now time.Time) (domain.Session, error) {
	if f.slow.Load() {
		<-ctx.Done()
		return domain.Session{}, fmt.Errorf("get session: %w", ctx.Err())
	}
	if f.down.Load() {
		return domain.Session{}, errDown
	}
	return f.Sessions.Get(ctx, id, now)
}

func (f *faultySessions) Create(ctx context.Context, s domain.Session, now time.Time) error {
	if f.down.Load() {
		return errDown
	}
	return f.Sessions.Create(ctx, s, now)
}

func (f *faultySessions) Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error) {
	if f.down.Load() {
		return 0, domain.Session{}, errDown
	}
	return f.Sessions.Rotate(ctx, r)
}

func (f *faultySessions) Name() string { return "sessions" }
func (f *faultySessions) Ping(context.Context) error {
	if f.down.Load() {
		return errDown
	}
	return nil
}

type okPinger struct{ name string }

func (p okPinger) Name() string               { return p.name }
func (p okPinger) Ping(context.Context) error { return nil }

type keySet struct{}

func (keySet) JWKSMaxAge() time.Duration { return 5 * time.Minute }

func (keySet) JWKS() ([]byte, error) {
	return []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1","alg":"EdDSA","use":"sig"}]}`), nil
}

// env is one server over fresh stores.
type env struct {
	t        *testing.T
	srv      *httpapi.Server
	users    *memstore.Users
	sessions *faultySessions
	audit    *memstore.AuditLog
	logs     *testenv.Buffer // log output from concurrent requests
}

const (
	publicURL     = "https://auth.example.com"
	allowedOrigin = "https://app.example.com"
	foreignOrigin = "https://evil.example.net"
	password      = "correct horse battery"
)

func baseConfig() httpapi.Config {
	return httpapi.Config{
		Addr: "127.0.0.1:0", PublicURL: publicURL, AllowedOrigins: []string{allowedOrigin},
		BodyLimit: 16 << 10, RequestTimeout: 5 * time.Second, ShutdownTimeout: 5 * time.Second,
	}
}

// baseSettings are the use cases' settings; token and cookie lifetimes follow from them alone.
func baseSettings() application.Settings {
	return application.Settings{AccessTTL: 15 * time.Minute, SessionIdle: 7 * 24 * time.Hour,
		SessionAbsolute: 30 * 24 * time.Hour, RefreshGrace: 10 * time.Second, Strict: true}
}

func newEnv(t *testing.T, mutate ...func(*httpapi.Config)) *env {
	t.Helper()
	return newEnvWith(t, baseSettings(), mutate...)
}

// newEnvWith is newEnv with the use cases' settings given.
func newEnvWith(t *testing.T, settings application.Settings, mutate ...func(*httpapi.Config)) *env {
	t.Helper()
	return newThrottledEnv(t, settings, application.Limits{}, mutate...)
}

// newThrottledEnv is newEnvWith with throttling limits (the zero Limits throttle nothing), on
// an in-memory rate limiter.
func newThrottledEnv(t *testing.T, settings application.Settings, limits application.Limits, mutate ...func(*httpapi.Config)) *env {
	t.Helper()
	cfg := baseConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	users := memstore.NewUsers()
	sessions := &faultySessions{Sessions: memstore.NewSessions()}
	tokens := &fakeTokens{claims: map[string]domain.AccessClaims{}}
	id := &ids{}
	var h ports.PasswordHasher = fakeHasher{}
	audit := memstore.NewAuditLog()
	auditor := application.NewAuditor(audit, clock{}, id, log)
	register := application.NewRegister(users, identity.New(), h, clock{}, id, auditor, nil, log)
	otts := memstore.NewOneTimeTokens()
	limiter := memstore.NewRateLimiter(clock{})
	mails := application.NewMailQueue(memstore.NewOutbox(otts), limiter, clock{}, id, application.MailSettings{}, settings, log)
	auth := application.NewAuthenticate(tokens, sessions, clock{}, settings)
	throttle := application.NewThrottle(memstore.NewRateLimiter(nil), limits, log)
	box, err := jwxtoken.NewSecretBox(make([]byte, jwxtoken.KeyEncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	factors := application.NewSecondFactors(memstore.NewTOTPFactors(), memstore.NewRecoveryCodes(), otp.New(), box,
		throttle, memstore.NewChallenges(), clock{}, settings)
	login := application.NewLogin(users, identity.New(), sessions, h, tokens, clock{}, id, settings, throttle, auditor, log)
	login.UseSecondFactors(factors)
	rp, err := passkey.New(passkey.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	passkeys := application.NewPasskeys(factors, memstore.NewPasskeys(), rp, memstore.NewChallenges(), users, sessions, h, tokens,
		id, clock{}, settings, auditor, log)
	factors.UsePasskeys(passkeys)
	srv, err := httpapi.NewServer(cfg, httpapi.Deps{
		Register:       register,
		Login:          login,
		Refresh:        application.NewRefresh(sessions, tokens, clock{}, id, settings, auditor, log),
		Logout:         application.NewLogout(sessions, auth, clock{}, auditor, log),
		Authenticate:   auth,
		Profile:        application.NewProfile(users, identity.New(), clock{}),
		ChangePassword: application.NewChangePassword(users, sessions, h, clock{}, throttle, auditor, nil, nil, log),
		Sessions:       application.NewSessions(sessions, clock{}, auditor),
		Keys:           keySet{},
		Readiness:      []ports.Pinger{okPinger{"database"}, sessions},
		Log:            log,
		Admin:          application.NewAdmin(users, users, sessions, register, auditor, clock{}, nil, log),
		Audit:          application.NewAuditTrail(audit),
		Throttle:       throttle,
		Locks:          application.NewLocks(users, throttle, auditor, log),
		VerifyEmail:    application.NewVerifyEmail(users, identity.New(), otts, mails, clock{}, auditor, log),
		PasswordReset:  application.NewPasswordReset(users, identity.New(), sessions, h, otts, mails, clock{}, throttle, auditor, log),
		ChangeEmail:    application.NewChangeEmail(users, identity.New(), h, otts, mails, clock{}, throttle, auditor, log),
		MFAVerify:      application.NewMFAVerify(factors, users, sessions, tokens, id, clock{}, settings, auditor, log),
		TOTP:           application.NewTOTPSetup(factors, users, sessions, h, clock{}, auditor, log),
		Passkeys:       passkeys,
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return &env{t: t, srv: srv, users: users, sessions: sessions, audit: audit, logs: logs}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// req builds a request; a string body is sent as application/json.
func req(method, path string, body any, headers ...string) *http.Request {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r := httptest.NewRequest(method, path, rd)
	if rd != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func (e *env) do(r *http.Request) response {
	e.t.Helper()
	resp, err := e.srv.App().Test(r, 5000)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Response: resp, body: b}
}

// expectProblem checks a problem+json answer with status and code and returns its body.
func expectProblem(t *testing.T, r response, status int, code string) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	m := r.json(t)
	if m["code"] != code {
		t.Fatalf("code = %v, want %s; body %s", m["code"], code, r.body)
	}
	if int(m["status"].(float64)) != status || m["title"] == "" ||
		!strings.HasPrefix(m["type"].(string), "https://portcullis.dev/problems/") {
		t.Fatalf("malformed problem: %s", r.body)
	}
	if m["request_id"] == nil || m["request_id"] != r.Header.Get("X-Request-Id") {
		t.Fatalf("request_id %v does not match X-Request-Id %q", m["request_id"], r.Header.Get("X-Request-Id"))
	}
	return m
}

// register creates a user with roles and returns its id.
func (e *env) register(email string, roles ...domain.Role) string {
	e.t.Helper()
	r := e.do(req("POST", "/api/auth/register", map[string]any{"email": email, "password": password}))
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	id := r.json(e.t)["user"].(map[string]any)["id"].(string)
	if len(roles) > 0 {
		u, err := e.users.ByID(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		u.Roles = roles
		if _, err := e.users.Update(context.Background(), u); err != nil {
			e.t.Fatal(err)
		}
	}
	return id
}

// session is a logged-in client.
type session struct {
	access, refresh string
	cookies         []*http.Cookie
	body            map[string]any
}

func (e *env) login(email string) session {
	e.t.Helper()
	r := e.do(req("POST", "/api/auth/login", map[string]any{"email": email, "password": password}))
	if r.StatusCode != http.StatusOK {
		e.t.Fatalf("login: %d %s", r.StatusCode, r.body)
	}
	m := r.json(e.t)
	return session{access: m["access_token"].(string), refresh: m["refresh_token"].(string), cookies: r.Cookies(), body: m}
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func cookieHeader(cs ...*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}

func findCookie(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}
