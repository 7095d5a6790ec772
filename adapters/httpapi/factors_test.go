package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// passkeyOrigin is the origin the test server's relying party accepts (newThrottledEnv).
const passkeyOrigin = "http://localhost:8080"

// registerPasskey registers a passkey of the soft authenticator for the holder of tok.
func (e *env) registerPasskey(tok string) *testenv.SoftCredential {
	e.t.Helper()
	begin := expectStatus(e.t, e.call("POST", "/api/users/me/passkeys/begin", map[string]any{"password": password}, tok), http.StatusOK)
	options, _ := json.Marshal(begin["options"])
	resp, cred, err := testenv.SoftCreate(options, passkeyOrigin)
	if err != nil {
		e.t.Fatal(err)
	}
	expectStatus(e.t, e.call("POST", "/api/users/me/passkeys/finish",
		map[string]any{"ceremony": begin["ceremony"], "credential": json.RawMessage(resp)}, tok), http.StatusCreated)
	return cred
}

// enrolTOTP enrols and confirms a TOTP authenticator for the holder of tok, and returns its
// secret and the time of the code that confirmed it (spent: the next login wants a later step).
func (e *env) enrolTOTP(tok string) (string, time.Time) {
	e.t.Helper()
	enrol := expectStatus(e.t, e.call("POST", "/api/users/me/mfa/totp", map[string]any{"password": password}, tok), http.StatusOK)
	secret := enrol["secret"].(string)
	now := time.Now()
	code, err := otp.Code(secret, now)
	if err != nil {
		e.t.Fatal(err)
	}
	expectStatus(e.t, e.call("POST", "/api/users/me/mfa/totp/confirm", map[string]any{"code": code}, tok), http.StatusOK)
	return secret, now
}

// passkeyLogin logs in with cred alone and returns the access token (amr hwk: two factors).
func (e *env) passkeyLogin(cred *testenv.SoftCredential) string {
	e.t.Helper()
	begin := expectStatus(e.t, e.do(req("POST", "/api/auth/passkey/begin", map[string]any{})), http.StatusOK)
	options, _ := json.Marshal(begin["options"])
	assertion, err := cred.Assert(options, testenv.AssertOptions{Origin: passkeyOrigin})
	if err != nil {
		e.t.Fatal(err)
	}
	out := expectStatus(e.t, e.do(req("POST", "/api/auth/passkey/finish",
		map[string]any{"ceremony": begin["ceremony"], "credential": json.RawMessage(assertion)})), http.StatusOK)
	return out["access_token"].(string)
}

// mfaStatus is GET /api/users/me/mfa: the methods and the recovery codes left.
func (e *env) mfaStatus(tok string) ([]string, int) {
	e.t.Helper()
	m := expectStatus(e.t, e.call("GET", "/api/users/me/mfa", nil, tok), http.StatusOK)
	var methods []string
	for _, x := range m["methods"].([]any) {
		methods = append(methods, x.(string))
	}
	return methods, int(m["recovery_codes_left"].(float64))
}

// A session opened with the password alone cannot raise itself to two factors once the account
// has one: adding a passkey, replacing the recovery codes and removing a passkey answer 403
// mfa_required; a session opened with the second factor does each. The first factor is added
// from the password session, as enrolment starts.
func TestFactorChangesFromAPasswordSession(t *testing.T) {
	e := newEnv(t)
	e.register("ada@example.com")
	pwd := e.login("ada@example.com").access

	secret, now := e.enrolTOTP(pwd)

	// The password session, older than the factor, adds nothing.
	expectProblem(t, e.call("POST", "/api/users/me/passkeys/begin", map[string]any{"password": password}, pwd), http.StatusForbidden, "mfa_required")
	expectProblem(t, e.call("POST", "/api/users/me/passkeys/finish",
		map[string]any{"ceremony": "c", "credential": map[string]any{"id": "x"}}, pwd), http.StatusForbidden, "mfa_required")
	expectProblem(t, e.call("POST", "/api/users/me/mfa/recovery-codes", map[string]any{"password": password}, pwd),
		http.StatusForbidden, "mfa_required")

	// A session opened with the password and a code (of the next step: the confirming one is spent).
	m := expectStatus(t, e.do(req("POST", "/api/auth/login", map[string]any{"email": "ada@example.com", "password": password})), http.StatusOK)
	next, err := otp.Code(secret, now.Add(domain.TOTPPeriod))
	if err != nil {
		t.Fatal(err)
	}
	twoFactor := expectStatus(t, e.do(req("POST", "/api/auth/mfa/verify", map[string]any{"mfa_token": m["mfa_token"], "code": next})),
		http.StatusOK)["access_token"].(string)
	e.registerPasskey(twoFactor)
	list := expectStatus(t, e.call("GET", "/api/users/me/passkeys", nil, twoFactor), http.StatusOK)["passkeys"].([]any)
	id := list[0].(map[string]any)["id"].(string)

	expectProblem(t, e.call("DELETE", "/api/users/me/passkeys/"+id, nil, pwd), http.StatusForbidden, "mfa_required")
	expectStatus(t, e.call("POST", "/api/users/me/mfa/recovery-codes", map[string]any{"password": password}, twoFactor), http.StatusOK)
	expectStatus(t, e.call("DELETE", "/api/users/me/passkeys/"+id, nil, twoFactor), http.StatusNoContent)
}

// A user whose only factor is a passkey: TOTP is enrolled only from a session opened with the
// passkey; recovery codes made there are listed among the methods, at login too; they go with
// the last passkey.
func TestPasskeyOnlyFactors(t *testing.T) {
	e := newEnv(t)
	e.register("bo@example.com")
	pwd := e.login("bo@example.com").access
	cred := e.registerPasskey(pwd) // the first factor: from the password session
	expectProblem(t, e.call("POST", "/api/users/me/mfa/totp", map[string]any{"password": password}, pwd), http.StatusForbidden, "mfa_required")

	withPasskey := e.passkeyLogin(cred)
	expectStatus(t, e.call("POST", "/api/users/me/mfa/recovery-codes", map[string]any{"password": password}, withPasskey), http.StatusOK)
	want := []string{"recovery_code", "passkey"}
	if methods, left := e.mfaStatus(withPasskey); !slices.Equal(methods, want) || left != domain.RecoveryCodeCount {
		t.Fatalf("status: methods %v, %d codes left; want %v, %d", methods, left, want, domain.RecoveryCodeCount)
	}
	m := expectStatus(t, e.do(req("POST", "/api/auth/login", map[string]any{"email": "bo@example.com", "password": password})), http.StatusOK)
	var methods []string
	for _, x := range m["methods"].([]any) {
		methods = append(methods, x.(string))
	}
	if !slices.Equal(methods, want) {
		t.Fatalf("login methods %v, want %v", methods, want)
	}

	list := expectStatus(t, e.call("GET", "/api/users/me/passkeys", nil, withPasskey), http.StatusOK)["passkeys"].([]any)
	expectStatus(t, e.call("DELETE", "/api/users/me/passkeys/"+list[0].(map[string]any)["id"].(string), nil, withPasskey),
		http.StatusNoContent)
	if methods, left := e.mfaStatus(withPasskey); len(methods) != 0 || left != 0 {
		t.Fatalf("status after the last passkey went: methods %v, %d codes left; want none", methods, left)
	}
}
