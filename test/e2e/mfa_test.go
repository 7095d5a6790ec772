package e2e

import (
	"bytes"
	"context"
	"encoding/base32"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// testClock is a clock the test moves by hand; it starts at the wall clock's now.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().UTC()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withClock makes the whole service read the time from clk.
func withClock(clk *testClock) fx.Option {
	return fx.Decorate(func(ports.Clock) ports.Clock { return clk })
}

type mfaRequired struct {
	MFARequired bool     `json:"mfa_required"`
	MFAToken    string   `json:"mfa_token"`
	Methods     []string `json:"methods"`
	ExpiresIn   int64    `json:"expires_in"`
}

// loginMFA logs in with a password and expects the second-factor answer, with no cookie.
func (c *client) loginMFA(t *testing.T, a account) mfaRequired {
	t.Helper()
	r := c.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusOK)
	var m mfaRequired
	r.decode(&m)
	if !m.MFARequired || m.MFAToken == "" || len(m.Methods) == 0 || m.ExpiresIn != 300 {
		t.Fatalf("login of a user with a second factor: %s", r.Body)
	}
	if len(r.Header.Values("Set-Cookie")) != 0 || strings.Contains(string(r.Body), "access_token") {
		t.Fatalf("a login waiting for its second factor set cookies or tokens: %v %s", r.Header.Values("Set-Cookie"), r.Body)
	}
	return m
}

type enrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRPNG      []byte `json:"qr_png"`
}

// enrolTOTP enrols and confirms a TOTP authenticator for the holder of access, returning the
// secret and the recovery codes.
func enrolTOTP(t *testing.T, api *client, clk *testClock, access string) (string, []string) {
	t.Helper()
	var e enrolment
	api.do("POST", "/api/users/me/mfa/totp", map[string]string{"password": goodPassword}, bearer(access)...).expect(http.StatusOK).decode(&e)
	code, err := otp.Code(e.Secret, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	api.do("POST", "/api/users/me/mfa/totp/confirm", map[string]string{"code": code}, bearer(access)...).
		expect(http.StatusOK).decode(&rc)
	return e.Secret, rc.RecoveryCodes
}

// mfaStatus is GET /api/users/me/mfa.
type mfaStatus struct {
	TOTP    string   `json:"totp"`
	Left    int      `json:"recovery_codes_left"`
	Methods []string `json:"methods"`
}

func mfaStatusOf(t *testing.T, api *client, access string) mfaStatus {
	t.Helper()
	var st mfaStatus
	api.do("GET", "/api/users/me/mfa", nil, bearer(access)...).expect(http.StatusOK).decode(&st)
	return st
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := otp.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTPEndToEnd enrols, confirms, logs in with codes and recovery codes, checks replay,
// skew, the mfa_token's limits and throttling, and removes the authenticator, with a clock the
// test moves (SECURITY I61–I64), on every backend.
func TestTOTPEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			clk := newTestClock()
			srv := startServer(t, b.env(t), withClock(clk))
			totpEndToEnd(t, srv, clk)
		})
	}
}

func totpEndToEnd(t *testing.T, srv *server, clk *testClock) {
	api := srv.apiClient().in(t)
	a := api.register(t)
	first := api.login(t, a)
	if j := parseJWT(t, first.AccessToken); !slices.Equal(j.Claims.AMR, []string{"pwd"}) || j.Claims.ACR != "aal1" {
		t.Errorf("password-only access token: amr %v acr %q, want [pwd] aal1", j.Claims.AMR, j.Claims.ACR)
	}
	auth := bearer(first.AccessToken)

	// Enrol: a base32 secret, its otpauth URI and a QR code PNG; pending until confirmed.
	var e enrolment
	r := api.do("POST", "/api/users/me/mfa/totp", map[string]string{"password": goodPassword}, auth...).expect(http.StatusOK)
	r.decode(&e)
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("enrolment Cache-Control %q, want no-store", cc)
	}
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret); err != nil || len(e.Secret) < 32 {
		t.Fatalf("secret %q is not 160 bits of base32: %v", e.Secret, err)
	}
	u, err := url.Parse(e.OTPAuthURI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != e.Secret ||
		u.Query().Get("issuer") != "Portcullis" || !strings.Contains(u.Path, a.Email) {
		t.Fatalf("otpauth URI %q", e.OTPAuthURI)
	}
	img, err := png.Decode(bytes.NewReader(e.QRPNG))
	if err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("qr_png is not a QR code PNG: %v", err)
	}
	var status struct {
		TOTP    string   `json:"totp"`
		Left    int      `json:"recovery_codes_left"`
		Methods []string `json:"methods"`
	}
	api.do("GET", "/api/users/me/mfa", nil, auth...).expect(http.StatusOK).decode(&status)
	if status.TOTP != "pending" || len(status.Methods) != 0 {
		t.Fatalf("status while pending: %+v", status)
	}
	// Still pending: a password alone logs in.
	api.login(t, a)

	// Confirm: a wrong code is refused; the right one enables it and gives ten recovery codes.
	wrong := codeAt(t, e.Secret, clk.Now().Add(-5*time.Minute))
	api.do("POST", "/api/users/me/mfa/totp/confirm", map[string]string{"code": wrong}, auth...).expectProblem(http.StatusUnauthorized, "invalid_code")
	confirmCode := codeAt(t, e.Secret, clk.Now())
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	api.do("POST", "/api/users/me/mfa/totp/confirm", map[string]string{"code": confirmCode}, auth...).expect(http.StatusOK).decode(&rc)
	if len(rc.RecoveryCodes) != 10 || len(slices.Compact(slices.Sorted(slices.Values(rc.RecoveryCodes)))) != 10 {
		t.Fatalf("recovery codes %v, want ten distinct", rc.RecoveryCodes)
	}
	api.do("POST", "/api/users/me/mfa/totp", map[string]string{"password": goodPassword}, auth...).expectProblem(http.StatusConflict, "totp_already_enabled")
	api.do("GET", "/api/users/me/mfa", nil, auth...).expect(http.StatusOK).decode(&status)
	if status.TOTP != "enabled" || status.Left != 10 || !slices.Equal(status.Methods, []string{"totp", "recovery_code"}) {
		t.Fatalf("status once enabled: %+v", status)
	}

	// I61: the code that confirmed is spent; the same step's code does not log in.
	m := api.loginMFA(t, a)
	if !slices.Equal(m.Methods, []string{"totp", "recovery_code"}) {
		t.Errorf("methods %v", m.Methods)
	}
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": confirmCode}).
		expectProblem(http.StatusUnauthorized, "invalid_code")

	// ±2 steps are refused, -1 is accepted (a slow typist), in a browser with cookies.
	clk.advance(2 * domain.TOTPPeriod)
	for _, d := range []time.Duration{-2, 2} {
		api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, e.Secret, clk.Now().Add(d*domain.TOTPPeriod))}).
			expectProblem(http.StatusUnauthorized, "invalid_code")
	}
	browser := srv.client().in(t)
	behind := codeAt(t, e.Secret, clk.Now().Add(-domain.TOTPPeriod))
	r = browser.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": behind}).expect(http.StatusOK)
	var tk tokens
	r.decode(&tk)
	if tk.User == nil || tk.User.ID != a.User.ID || browser.cookie("/", "access_token") != tk.AccessToken {
		t.Fatalf("verify answer: %s", r.Body)
	}
	j := parseJWT(t, tk.AccessToken)
	if !slices.Equal(j.Claims.AMR, []string{"pwd", "otp"}) || j.Claims.ACR != "aal2" {
		t.Errorf("access token after a code: amr %v acr %q, want [pwd otp] aal2", j.Claims.AMR, j.Claims.ACR)
	}
	// The mfa_token works once.
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, e.Secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")
	// The refreshed token keeps the session's methods; the sessions list shows them.
	var refreshed tokens
	api.refresh(tk.RefreshToken).expect(http.StatusOK).decode(&refreshed)
	if j := parseJWT(t, refreshed.AccessToken); !slices.Equal(j.Claims.AMR, []string{"pwd", "otp"}) {
		t.Errorf("refreshed access token amr %v", j.Claims.AMR)
	}
	var sl struct {
		Sessions []sessionView `json:"sessions"`
	}
	api.do("GET", "/api/sessions", nil, bearer(refreshed.AccessToken)...).expect(http.StatusOK).decode(&sl)
	for _, s := range sl.Sessions {
		want := []string{"pwd"}
		if s.Current {
			want = []string{"pwd", "otp"}
		}
		if !slices.Equal(s.AMR, want) {
			t.Errorf("session %s (current %t) amr %v, want %v", s.ID, s.Current, s.AMR, want)
		}
	}

	// +1 step accepted; then the same code again, on a new login, is a replay.
	m = api.loginMFA(t, a)
	ahead := codeAt(t, e.Secret, clk.Now().Add(domain.TOTPPeriod))
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": ahead}).expect(http.StatusOK)
	m = api.loginMFA(t, a)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": ahead}).expectProblem(http.StatusUnauthorized, "invalid_code")
	// ...and so is the current step's code, older than the one just used.
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, e.Secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_code")

	// A recovery code works once (any case, with or without dashes).
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "recovery_code": strings.ToUpper(rc.RecoveryCodes[0])}).
		expect(http.StatusOK)
	m = api.loginMFA(t, a)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "recovery_code": rc.RecoveryCodes[0]}).
		expectProblem(http.StatusUnauthorized, "invalid_code")
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "recovery_code": strings.ReplaceAll(rc.RecoveryCodes[1], "-", "")}).
		expect(http.StatusOK)

	// I62: the mfa_token is no access or refresh token, and expires; an access token is no mfa_token.
	m = api.loginMFA(t, a)
	if api.meStatus(m.MFAToken) != http.StatusUnauthorized {
		t.Error("an mfa_token was accepted as an access token")
	}
	api.refresh(m.MFAToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": refreshed.AccessToken, "code": codeAt(t, e.Secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": refreshed.RefreshToken, "code": codeAt(t, e.Secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")
	clk.advance(5*time.Minute + time.Second)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, e.Secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")

	// Regenerate recovery codes: the password is needed; the old codes stop working.
	fresh := api.login2FA(t, a, e.Secret, clk)
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": "not the password"}, bearer(fresh.AccessToken)...).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	var rc2 struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": a.Password}, bearer(fresh.AccessToken)...).
		expect(http.StatusOK).decode(&rc2)
	if len(rc2.RecoveryCodes) != 10 || slices.Contains(rc2.RecoveryCodes, rc.RecoveryCodes[2]) {
		t.Fatalf("regenerated codes %v", rc2.RecoveryCodes)
	}
	m = api.loginMFA(t, a)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "recovery_code": rc.RecoveryCodes[2]}).
		expectProblem(http.StatusUnauthorized, "invalid_code")

	// I64: neither the secret nor a recovery code is in the database file or the logs.
	needles := append([]string{e.Secret}, rc.RecoveryCodes...)
	needles = append(needles, rc2.RecoveryCodes...)
	if srv.Config.DatabaseURL == "" {
		raw, err := os.ReadFile(srv.dbPath())
		if err != nil {
			t.Fatal(err)
		}
		for _, wal := range []string{"-wal"} {
			if b, err := os.ReadFile(srv.dbPath() + wal); err == nil {
				raw = append(raw, b...)
			}
		}
		for _, n := range needles {
			if bytes.Contains(raw, []byte(n)) || bytes.Contains(raw, []byte(strings.ReplaceAll(n, "-", ""))) {
				t.Errorf("the database file holds a TOTP secret or recovery code in clear")
			}
		}
	}
	logs := srv.Logs.String()
	for _, n := range needles {
		if strings.Contains(logs, n) {
			t.Errorf("the logs hold a TOTP secret or recovery code")
		}
	}

	// Disable: the password and a current code; then a password alone logs in again.
	fresh = api.login2FA(t, a, e.Secret, clk)
	clk.advance(domain.TOTPPeriod)
	now := codeAt(t, e.Secret, clk.Now())
	api.do("DELETE", "/api/users/me/mfa/totp", map[string]string{"password": "wrong password here", "code": now}, bearer(fresh.AccessToken)...).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	api.do("DELETE", "/api/users/me/mfa/totp", map[string]string{"password": a.Password, "code": now}, bearer(fresh.AccessToken)...).
		expect(http.StatusNoContent)
	api.do("GET", "/api/users/me/mfa", nil, bearer(fresh.AccessToken)...).expect(http.StatusOK).decode(&status)
	if status.TOTP != "none" || status.Left != 0 {
		t.Fatalf("status after disable: %+v", status)
	}
	api.login(t, a)
}

// login2FA logs a in with the password and the code of the next unused step (moving the clock).
func (c *client) login2FA(t *testing.T, a account, secret string, clk *testClock) tokens {
	t.Helper()
	clk.advance(domain.TOTPPeriod)
	m := c.loginMFA(t, a)
	var tk tokens
	c.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, secret, clk.Now())}).
		expect(http.StatusOK).decode(&tk)
	return tk
}

// TestMFAThrottling: wrong codes are throttled per account exactly like wrong passwords
// (SECURITY I63): an mfa_token dies after five wrong codes, and the account is then delayed
// (429 with Retry-After) for its password and codes alike, until the delay passes; wrong
// recovery codes count as wrong TOTP codes do.
func TestMFAThrottling(t *testing.T) {
	clk := newTestClock()
	// The production defaults of account throttling (the harness's are out of reach).
	srv := startServer(t, map[string]string{"PORTCULLIS_RATE_LOGIN_ACCOUNT": "5/1m", "PORTCULLIS_RATE_ACCOUNT_LOCK": "10/15m"},
		withClock(clk))
	api := srv.apiClient().in(t)
	a := api.register(t)
	secret, _ := enrolTOTP(t, api, clk, api.login(t, a).AccessToken)
	clk.advance(domain.TOTPPeriod)
	m := api.loginMFA(t, a)
	bad := codeAt(t, secret, clk.Now().Add(-10*time.Minute))
	for range 5 {
		api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": bad}).
			expectProblem(http.StatusUnauthorized, "invalid_code")
	}
	good := codeAt(t, secret, clk.Now())
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": good}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")
	// The account is now delayed: the password login is refused like after five wrong passwords.
	r := api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password})
	r.expectProblem(http.StatusTooManyRequests, "too_many_requests")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Once the delay has passed, the password and a right code log in, and clear the count.
	clk.advance(time.Minute)
	m = api.loginMFA(t, a)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": codeAt(t, secret, clk.Now())}).
		expect(http.StatusOK)

	// Wrong recovery codes count the same way: five, and the account is delayed again.
	m = api.loginMFA(t, a)
	for range 5 {
		api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "recovery_code": "aaaa-bbbb-cccc-dddd"}).
			expectProblem(http.StatusUnauthorized, "invalid_code")
	}
	api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).
		expectProblem(http.StatusTooManyRequests, "too_many_requests")
}

// newAdmin creates an administrator, as `portcullis users create --role admin` does.
func newAdmin(t *testing.T, admin *application.Admin) account {
	t.Helper()
	root := account{Email: "root-" + randHex(4) + "@example.com", Password: goodPassword}
	created, err := admin.Create(context.Background(), application.Operator, application.CreateUserInput{
		Email: root.Email, Password: root.Password, Roles: []domain.Role{domain.RoleAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	root.User.ID = created.User.ID
	return root
}

// TestAdminMFA: an administrator resets a user's factors (audited), and with
// PORTCULLIS_ADMIN_REQUIRE_MFA the admin API wants a session opened with a second factor.
func TestAdminMFA(t *testing.T) {
	clk := newTestClock()
	var admin *application.Admin
	srv := startServer(t, map[string]string{"PORTCULLIS_ADMIN_REQUIRE_MFA": "true"}, withClock(clk), fx.Populate(&admin))
	api := srv.apiClient().in(t)
	root := newAdmin(t, admin)
	pwdOnly := api.login(t, root)
	api.do("GET", "/api/users", nil, bearer(pwdOnly.AccessToken)...).expectProblem(http.StatusForbidden, "mfa_required")
	// Routes that are not admin-only are unaffected.
	api.do("GET", "/api/users/me", nil, bearer(pwdOnly.AccessToken)...).expect(http.StatusOK)
	rootSecret, _ := enrolTOTP(t, api, clk, pwdOnly.AccessToken)
	// The session opened with the password alone stays single-factor.
	api.do("GET", "/api/users", nil, bearer(pwdOnly.AccessToken)...).expectProblem(http.StatusForbidden, "mfa_required")
	rootTk := api.login2FA(t, root, rootSecret, clk)
	as := bearer(rootTk.AccessToken)
	api.do("GET", "/api/users", nil, as...).expect(http.StatusOK)

	// A user loses their authenticator; the admin resets it, and a password alone logs in.
	u := api.register(t)
	enrolTOTP(t, api, clk, api.login(t, u).AccessToken)
	api.loginMFA(t, u)
	api.do("DELETE", "/api/users/"+u.User.ID+"/mfa", nil, bearer(pwdOnly.AccessToken)...).expectProblem(http.StatusForbidden, "mfa_required")
	api.do("DELETE", "/api/users/"+u.User.ID+"/mfa", nil, as...).expect(http.StatusNoContent)
	api.login(t, u)
	api.do("DELETE", "/api/users/"+randHex(8)+"/mfa", nil, as...).expectProblem(http.StatusNotFound, "not_found")
	var page struct {
		Events []struct {
			Event     string `json:"event"`
			ActorID   string `json:"actor_id"`
			SubjectID string `json:"subject_id"`
		} `json:"events"`
	}
	api.do("GET", "/api/audit?event=mfa_reset", nil, as...).expect(http.StatusOK).decode(&page)
	if len(page.Events) != 1 || page.Events[0].ActorID != root.User.ID || page.Events[0].SubjectID != u.User.ID {
		t.Fatalf("mfa_reset audit events: %+v", page.Events)
	}
	api.do("GET", "/api/audit?user_id="+u.User.ID, nil, as...).expect(http.StatusOK).decode(&page)
	seen := map[string]bool{}
	for _, ev := range page.Events {
		seen[ev.Event] = true
	}
	for _, want := range []string{"mfa_enrol", "mfa_reset"} {
		if !seen[want] {
			t.Errorf("no %s event for the user; got %v", want, seen)
		}
	}
}
