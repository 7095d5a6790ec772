package e2e

import (
	"net/http"
	"testing"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestB11_OwnerResetsThroughASoftLock: failed logins lock an account softly (429 with
// Retry-After, even for the right password); the owner can still ask for a reset (never
// refused by the lock), and the reset lifts the lock at once.
func TestB11_OwnerResetsThroughASoftLock(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, map[string]string{
		"PORTCULLIS_RATE_LOGIN_ACCOUNT": "3/1m", "PORTCULLIS_RATE_ACCOUNT_LOCK": "3/15m", "PORTCULLIS_LOCK_DURATION": "15m",
	})
	c := s.apiClient().in(t)
	a := c.register(t)
	for range 3 {
		c.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": "not the password"}).
			expectProblem(http.StatusUnauthorized, "invalid_credentials")
	}
	r := c.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password})
	r.expectProblem(http.StatusTooManyRequests, "too_many_requests")
	if r.Header.Get("Retry-After") != "900" {
		t.Fatalf("Retry-After of the soft lock = %q, want 900", r.Header.Get("Retry-After"))
	}
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, token := mailLink(t, waitMail(t, mp, a.Email, "password reset mail", linkTo("/reset-password")))
	a.Password = "a brand new passphrase"
	c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": a.Password}).expect(http.StatusNoContent)
	c.login(t, a)
	t.Log("3 failures locked the account (Retry-After 900 s); forgot-password was accepted during the lock and the reset lifted it")
}
