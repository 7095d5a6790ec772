package e2e

import (
	"net/http"
	"testing"

	"github.com/portcullis-auth/portcullis/domain"
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
