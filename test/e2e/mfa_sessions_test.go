package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// Removing the TOTP authenticator or regenerating the recovery codes ends every other session
// of the user, as a password change does (docs/security.md D36); the session that made the
// change stays.
func TestMFA_FactorChangesRevokeOtherSessions(t *testing.T) {
	clk := newTestClock()
	srv := startServer(t, nil, withClock(clk))
	api := srv.apiClient().in(t)
	a := api.register(t)
	secret, _ := enrolTOTP(t, api, clk, api.login(t, a).AccessToken)

	other, mine := api.login2FA(t, a, secret, clk), api.login2FA(t, a, secret, clk)
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": a.Password}, bearer(mine.AccessToken)...).
		expect(http.StatusOK)
	api.do("GET", "/api/users/me", nil, bearer(other.AccessToken)...).expectProblem(http.StatusUnauthorized, "invalid_token")
	api.refresh(other.RefreshToken).expect(http.StatusUnauthorized)
	api.do("GET", "/api/users/me", nil, bearer(mine.AccessToken)...).expect(http.StatusOK)

	other = api.login2FA(t, a, secret, clk)
	clk.advance(domain.TOTPPeriod)
	api.do("DELETE", "/api/users/me/mfa/totp", map[string]string{"password": a.Password, "code": codeAt(t, secret, clk.Now())},
		bearer(mine.AccessToken)...).expect(http.StatusNoContent)
	api.do("GET", "/api/users/me", nil, bearer(other.AccessToken)...).expectProblem(http.StatusUnauthorized, "invalid_token")
	api.refresh(other.RefreshToken).expect(http.StatusUnauthorized)
	api.do("GET", "/api/users/me", nil, bearer(mine.AccessToken)...).expect(http.StatusOK)

	// A refused change (wrong password) ends nothing.
	third := api.login(t, a)
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": "not the password"}, bearer(mine.AccessToken)...).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	api.do("GET", "/api/users/me", nil, bearer(third.AccessToken)...).expect(http.StatusOK)
}

// The second-factor metrics move with real traffic: an enrolment (pending, then ok), a login
// with a code, a wrong code, recovery codes replaced and the authenticator removed; no label
// carries the user's id or address.
func TestMFA_MetricsMove(t *testing.T) {
	clk := newTestClock()
	srv := startServer(t, nil, withClock(clk))
	api := srv.apiClient().in(t)
	before := scrape(t, srv.apiClient())
	a := api.register(t)
	secret, _ := enrolTOTP(t, api, clk, api.login(t, a).AccessToken)
	tk := api.login2FA(t, a, secret, clk)
	m := api.loginMFA(t, a)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": m.MFAToken, "code": "000000"}).
		expectProblem(http.StatusUnauthorized, "invalid_code")
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": a.Password}, bearer(tk.AccessToken)...).
		expect(http.StatusOK)
	clk.advance(domain.TOTPPeriod)
	api.do("DELETE", "/api/users/me/mfa/totp", map[string]string{"password": a.Password, "code": codeAt(t, secret, clk.Now())},
		bearer(tk.AccessToken)...).expect(http.StatusNoContent)
	after := scrape(t, srv.apiClient())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portcullis_mfa_enrolments_total", map[string]string{"method": "totp", "outcome": "pending"}, 1},
		{"portcullis_mfa_enrolments_total", map[string]string{"method": "totp", "outcome": "ok"}, 1},
		{"portcullis_mfa_enrolments_total", map[string]string{"method": "recovery_code", "outcome": "ok"}, 1},
		{"portcullis_mfa_verifications_total", map[string]string{"method": "totp", "step": "login", "outcome": "ok"}, 1},
		{"portcullis_mfa_verifications_total", map[string]string{"method": "totp", "step": "login", "outcome": "bad_code"}, 1},
		{"portcullis_mfa_removals_total", map[string]string{"method": "totp", "by": "user"}, 1},
		{"portcullis_mfa_removals_total", map[string]string{"method": "all", "by": "admin"}, 0},
	} {
		if got := sample(after, c.name, c.labels) - sample(before, c.name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, a.User.ID) || strings.Contains(v, "@") {
					t.Errorf("%s has user data in label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
}

// A password changed between a login's password and its second factor ends that login: the
// mfa_token, redeemed with a right code, opens no session (the session would outlive the
// change, which ends every other session); a login with the new password goes through.
func TestMFA_PasswordChangedBeforeTheSecondFactor(t *testing.T) {
	clk := newTestClock()
	srv := startServer(t, nil, withClock(clk))
	api := srv.apiClient().in(t)
	a := api.register(t)
	secret, _ := enrolTOTP(t, api, clk, api.login(t, a).AccessToken)
	mine := api.login2FA(t, a, secret, clk)

	pending := api.loginMFA(t, a)
	a.Password = "changed while a login waited"
	api.do("PUT", "/api/users/me/password", map[string]string{"current_password": goodPassword, "new_password": a.Password},
		bearer(mine.AccessToken)...).expect(http.StatusNoContent)
	clk.advance(domain.TOTPPeriod)
	api.do("POST", "/api/auth/mfa/verify", map[string]string{"mfa_token": pending.MFAToken, "code": codeAt(t, secret, clk.Now())}).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	api.login2FA(t, a, secret, clk)
}

// A session opened with the password alone, and older than the account's second factor (one
// stolen, or a refresh token from before the enrolment), cannot raise itself to two factors:
// it can neither register a passkey nor replace the recovery codes, even with the password, so
// PORTCULLIS_ADMIN_REQUIRE_MFA keeps refusing it and whatever it would have added; a session
// opened with the second factor does both.
func TestMFA_PasswordSessionCannotRaiseItself(t *testing.T) {
	clk := newTestClock()
	var admin *application.Admin
	srv := startServer(t, map[string]string{"PORTCULLIS_ADMIN_REQUIRE_MFA": "true"}, withClock(clk), fx.Populate(&admin))
	api := srv.apiClient().in(t)
	root := newAdmin(t, admin)
	first := api.login(t, root).AccessToken
	pwdOnly := bearer(first)
	secret, _ := enrolTOTP(t, api, clk, first)
	api.do("GET", "/api/users", nil, pwdOnly...).expectProblem(http.StatusForbidden, "mfa_required")

	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, pwdOnly...).expectProblem(http.StatusForbidden, "mfa_required")
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": root.Password}, pwdOnly...).
		expectProblem(http.StatusForbidden, "mfa_required")
	// Nor can it finish a registration the owner began.
	twoFactor := api.login2FA(t, root, secret, clk)
	var c ceremony
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(twoFactor.AccessToken)...).expect(http.StatusOK).decode(&c)
	resp, _, err := testenv.SoftCreate(c.Options, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	api.do("POST", "/api/users/me/passkeys/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(resp),
		"name": "attacker key"}, pwdOnly...).expectProblem(http.StatusForbidden, "mfa_required")
	if got := listPasskeys(t, api, twoFactor.AccessToken); len(got) != 0 {
		t.Fatalf("passkeys after the refused registration: %+v", got)
	}
	api.do("GET", "/api/users", nil, pwdOnly...).expectProblem(http.StatusForbidden, "mfa_required")

	// The session opened with the code does both.
	pk, _ := registerPasskey(t, api, twoFactor.AccessToken, "Laptop")
	api.do("DELETE", "/api/users/me/passkeys/"+pk.ID, nil, pwdOnly...).expectProblem(http.StatusForbidden, "mfa_required")
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": root.Password}, bearer(twoFactor.AccessToken)...).
		expect(http.StatusOK)
	api.do("GET", "/api/users", nil, bearer(twoFactor.AccessToken)...).expect(http.StatusOK)
}
