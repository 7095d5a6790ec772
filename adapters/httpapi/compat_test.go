package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/domain"
)

// The seed's signin of a user with a second factor answers as /api/auth/login does: the
// mfa_token and its methods, and no cookie (README, "Second factors": a login that needs a
// second factor sets none). It must neither pass for a signed-in answer with empty tokens nor
// overwrite the browser's session cookies with empty ones.
func TestSeedSigninWithSecondFactor(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.Compat = httpapi.CompatSeed })
	expectStatus(t, e.do(req("POST", "/api/auth/signup",
		map[string]any{"username": "ada", "email": "ada@example.com", "password": password})), http.StatusOK)
	signin := map[string]any{"username": "ada", "password": password}
	tok := expectStatus(t, e.do(req("POST", "/api/auth/signin", signin)), http.StatusOK)["accessToken"].(string)

	secret, now := e.enrolTOTP(tok)

	r := e.do(req("POST", "/api/auth/signin", signin))
	m := expectStatus(t, r, http.StatusOK)
	if len(r.Cookies()) != 0 {
		t.Fatalf("a signin waiting for its second factor set cookies: %v", r.Header.Values("Set-Cookie"))
	}
	if m["mfa_required"] != true || m["mfa_token"] == "" || m["mfa_token"] == nil || m["accessToken"] != nil {
		t.Fatalf("signin of a user with a second factor: %s", r.body)
	}
	// The mfa_token completes the login, as after /api/auth/login.
	next, err := otp.Code(secret, now.Add(domain.TOTPPeriod))
	if err != nil {
		t.Fatal(err)
	}
	out := expectStatus(t, e.do(req("POST", "/api/auth/mfa/verify", map[string]any{"mfa_token": m["mfa_token"], "code": next})),
		http.StatusOK)
	if r := e.call("GET", "/api/test/user", nil, out["access_token"].(string)); r.StatusCode != http.StatusOK {
		t.Fatalf("the completed login's token: %d %s", r.StatusCode, r.body)
	}
}
