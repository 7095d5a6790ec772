package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// passkeyOrigin is the origin of the harness's PORTCULLIS_PUBLIC_URL: the page a browser would
// run the WebAuthn ceremonies on (relying-party id localhost).
const passkeyOrigin = "http://localhost:8080"

type ceremony struct {
	Ceremony  string          `json:"ceremony"`
	ExpiresIn int64           `json:"expires_in"`
	Options   json.RawMessage `json:"options"`
}

type passkeyView struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
}

// registerPasskey registers a passkey named name for the holder of access with the soft
// authenticator.
func registerPasskey(t *testing.T, api *client, access, name string) (passkeyView, *testenv.SoftCredential) {
	t.Helper()
	var c ceremony
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(access)...).expect(http.StatusOK).decode(&c)
	if c.Ceremony == "" || c.ExpiresIn != 300 {
		t.Fatalf("registration begin: %+v", c)
	}
	resp, cred, err := testenv.SoftCreate(c.Options, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Passkey passkeyView `json:"passkey"`
	}
	api.do("POST", "/api/users/me/passkeys/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(resp),
		"name": name}, bearer(access)...).expect(http.StatusCreated).decode(&out)
	if out.Passkey.ID == "" || out.Passkey.Name != name || out.Passkey.LastUsedAt != nil {
		t.Fatalf("registered passkey: %+v", out.Passkey)
	}
	return out.Passkey, cred
}

// passkeyLogin begins a login by passkey alone and answers it with cred bent by o.
func passkeyLogin(t *testing.T, api *client, cred *testenv.SoftCredential, o testenv.AssertOptions) (ceremony, *resp) {
	t.Helper()
	var c ceremony
	api.do("POST", "/api/auth/passkey/begin", nil).expect(http.StatusOK).decode(&c)
	if o.Origin == "" {
		o.Origin = passkeyOrigin
	}
	assertion, err := cred.Assert(c.Options, o)
	if err != nil {
		t.Fatal(err)
	}
	return c, api.do("POST", "/api/auth/passkey/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(assertion)})
}

func listPasskeys(t *testing.T, api *client, access string) []passkeyView {
	t.Helper()
	var out struct {
		Passkeys []passkeyView `json:"passkeys"`
	}
	api.do("GET", "/api/users/me/passkeys", nil, bearer(access)...).expect(http.StatusOK).decode(&out)
	return out.Passkeys
}

// TestPasskeysEndToEnd registers a passkey, logs in with it alone and as the second factor of
// a password, renames and deletes it, on every backend; the WebAuthn answers come from a
// software authenticator (the browser test drives Chromium's).
func TestPasskeysEndToEnd(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, b.env(t))
			passkeysEndToEnd(t, srv)
		})
	}
}

func passkeysEndToEnd(t *testing.T, srv *server) {
	api := srv.apiClient().in(t)
	a := api.register(t)
	first := api.login(t, a)
	// The access token alone adds no passkey: the password confirms it (a token stolen for
	// minutes would otherwise buy a login for good).
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{}, bearer(first.AccessToken)...).
		expectProblem(http.StatusUnprocessableEntity, "validation_failed")
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": "not the password"}, bearer(first.AccessToken)...).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	pk, cred := registerPasskey(t, api, first.AccessToken, "Laptop")
	if got := listPasskeys(t, api, first.AccessToken); len(got) != 1 || got[0].ID != pk.ID || got[0].Name != "Laptop" {
		t.Fatalf("list after registration: %+v", got)
	}
	// The password session that added the first factor adds no other: the account has a
	// second factor now, and that session was opened without one.
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(first.AccessToken)...).expectProblem(http.StatusForbidden, "mfa_required")

	// A login by passkey alone: tokens, amr hwk (+ user), two factors' worth.
	_, r := passkeyLogin(t, api, cred, testenv.AssertOptions{})
	var tk tokens
	r.expect(http.StatusOK).decode(&tk)
	if tk.User == nil || tk.User.ID != a.User.ID {
		t.Fatalf("passkey login: %s", r.Body)
	}
	claims := parseJWT(t, tk.AccessToken).Claims
	if !slices.Equal(claims.AMR, []string{"hwk", "user"}) || claims.ACR != domain.ACRMultiFactor {
		t.Fatalf("passkey login: amr %v acr %q, want [hwk user] aal2", claims.AMR, claims.ACR)
	}
	if got := listPasskeys(t, api, tk.AccessToken); got[0].LastUsedAt == nil {
		t.Fatalf("last_used_at not set after a login: %+v", got)
	}
	// The passkey session may begin another registration (its ceremony serves below).
	var c ceremony
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(tk.AccessToken)...).expect(http.StatusOK).decode(&c)
	// Recovery codes stand in for the passkey: listed among the methods.
	var rc struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	api.do("POST", "/api/users/me/mfa/recovery-codes", map[string]string{"password": a.Password}, bearer(tk.AccessToken)...).
		expect(http.StatusOK).decode(&rc)
	if st := mfaStatusOf(t, api, tk.AccessToken); len(rc.RecoveryCodes) != 10 || st.Left != 10 ||
		!slices.Equal(st.Methods, []string{"recovery_code", "passkey"}) {
		t.Fatalf("status of a passkey-only user with recovery codes: %+v", st)
	}

	// A password login now wants the second factor; the passkey gives it.
	m := api.loginMFA(t, a)
	if !slices.Equal(m.Methods, []string{application.MethodRecoveryCode, application.MethodPasskey}) {
		t.Fatalf("methods %v, want recovery_code and passkey", m.Methods)
	}
	var opts ceremony
	api.do("POST", "/api/auth/passkey/begin", map[string]string{"mfa_token": m.MFAToken}).expect(http.StatusOK).decode(&opts)
	if opts.Ceremony != "" {
		t.Fatalf("a second-factor begin named a ceremony: %+v", opts)
	}
	assertion, err := cred.Assert(opts.Options, testenv.AssertOptions{Origin: passkeyOrigin})
	if err != nil {
		t.Fatal(err)
	}
	var tk2 tokens
	api.do("POST", "/api/auth/mfa/verify", map[string]any{"mfa_token": m.MFAToken, "passkey": json.RawMessage(assertion)}).
		expect(http.StatusOK).decode(&tk2)
	if amr := parseJWT(t, tk2.AccessToken).Claims.AMR; !slices.Equal(amr, []string{"pwd", "hwk"}) {
		t.Fatalf("password + passkey: amr %v, want [pwd hwk]", amr)
	}
	// The mfa_token and its ceremony are spent.
	api.do("POST", "/api/auth/mfa/verify", map[string]any{"mfa_token": m.MFAToken, "passkey": json.RawMessage(assertion)}).
		expectProblem(http.StatusUnauthorized, "invalid_mfa_token")

	// Rename; another user can neither rename nor delete it.
	var renamed struct {
		Passkey passkeyView `json:"passkey"`
	}
	api.do("PATCH", "/api/users/me/passkeys/"+pk.ID, map[string]string{"name": "Phone"}, bearer(tk.AccessToken)...).
		expect(http.StatusOK).decode(&renamed)
	if renamed.Passkey.Name != "Phone" {
		t.Fatalf("rename: %+v", renamed.Passkey)
	}
	api.do("PATCH", "/api/users/me/passkeys/"+pk.ID, map[string]string{"name": ""}, bearer(tk.AccessToken)...).
		expectProblem(http.StatusUnprocessableEntity, "validation_failed")
	other := api.register(t)
	otherTk := api.login(t, other)
	api.do("PATCH", "/api/users/me/passkeys/"+pk.ID, map[string]string{"name": "Mine"}, bearer(otherTk.AccessToken)...).
		expectProblem(http.StatusNotFound, "not_found")
	api.do("DELETE", "/api/users/me/passkeys/"+pk.ID, nil, bearer(otherTk.AccessToken)...).expectProblem(http.StatusNotFound, "not_found")
	// Another user's registration ceremony is not this user's.
	resp, _, err := testenv.SoftCreate(c.Options, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	api.do("POST", "/api/users/me/passkeys/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(resp)},
		bearer(otherTk.AccessToken)...).expectProblem(http.StatusUnauthorized, "invalid_ceremony")

	// Deleted, it logs in no more, and the password alone does again. The other sessions
	// (the first password login, the one opened with password and passkey) end; the
	// caller's stays.
	api.do("DELETE", "/api/users/me/passkeys/"+pk.ID, nil, bearer(tk.AccessToken)...).expect(http.StatusNoContent)
	if got := listPasskeys(t, api, tk.AccessToken); len(got) != 0 {
		t.Fatalf("list after delete: %+v", got)
	}
	if st := mfaStatusOf(t, api, tk.AccessToken); st.Left != 0 || len(st.Methods) != 0 {
		t.Fatalf("status after the last factor went: %+v, want no codes and no methods", st)
	}
	for _, gone := range []string{first.AccessToken, tk2.AccessToken} {
		if st := api.meStatus(gone); st != http.StatusUnauthorized {
			t.Fatalf("another session after the passkey's removal: GET /api/users/me = %d, want 401", st)
		}
	}
	_, r = passkeyLogin(t, api, cred, testenv.AssertOptions{})
	r.expectProblem(http.StatusUnauthorized, "invalid_passkey")
	api.login(t, a)
}

// TestI65_Passkey: a passkey assertion for another origin or relying-party id, a reused
// challenge, or a signature counter that goes backwards is refused (SECURITY I65), and each
// refusal is audited.
func TestI65_Passkey(t *testing.T) {
	var trail *application.AuditTrail
	srv := startServer(t, nil, fx.Populate(&trail))
	api := srv.apiClient().in(t)
	a := api.register(t)
	access := api.login(t, a).AccessToken
	_, cred := registerPasskey(t, api, access, "Key")

	t.Run("OtherOrigin", func(t *testing.T) {
		_, r := passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{Origin: "http://localhost.evil.test:8080"})
		r.expectProblem(http.StatusUnauthorized, "invalid_passkey")
	})
	t.Run("OtherRPID", func(t *testing.T) {
		_, r := passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{RPID: "evil.test"})
		r.expectProblem(http.StatusUnauthorized, "invalid_passkey")
	})
	t.Run("ReusedChallenge", func(t *testing.T) {
		c, r := passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{})
		r.expect(http.StatusOK)
		// The same ceremony again, even with a fresh, valid signature over its challenge.
		again, err := cred.Assert(c.Options, testenv.AssertOptions{Origin: passkeyOrigin})
		if err != nil {
			t.Fatal(err)
		}
		api.in(t).do("POST", "/api/auth/passkey/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(again)}).
			expectProblem(http.StatusUnauthorized, "invalid_ceremony")
		// Another ceremony answered with the first one's challenge.
		var next ceremony
		api.in(t).do("POST", "/api/auth/passkey/begin", nil).expect(http.StatusOK).decode(&next)
		api.in(t).do("POST", "/api/auth/passkey/finish", map[string]any{"ceremony": next.Ceremony, "credential": json.RawMessage(again)}).
			expectProblem(http.StatusUnauthorized, "invalid_passkey")
	})
	t.Run("CounterRegression", func(t *testing.T) {
		// A clone of the credential, taken when its counter was lower, signs with a count at or
		// below the one last seen.
		_, r := passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{})
		r.expect(http.StatusOK)
		seen := cred.SignCount
		for _, n := range []uint32{seen, seen - 1, 0} {
			_, r := passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{Count: &n})
			r.expectProblem(http.StatusUnauthorized, "invalid_passkey")
		}
		next := seen + 1
		_, r = passkeyLogin(t, api.in(t), cred, testenv.AssertOptions{Count: &next})
		r.expect(http.StatusOK)
	})

	// Every refusal is in the audit trail with its reason.
	page, err := trail.List(context.Background(), application.Operator,
		application.AuditListInput{Event: string(domain.EventMFAFailure), UserID: a.User.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range page.Records {
		reasons[e.Outcome]++
	}
	if reasons["bad_assertion"] < 3 || reasons["counter_regression"] != 3 {
		t.Fatalf("audited passkey refusals %v, want ≥3 bad_assertion, 3 counter_regression", reasons)
	}
}

// TestPasskeyAdminReset: an administrator's reset of a user's factors removes the user's
// passkeys too (audited) and ends the user's sessions, and a password alone logs in again.
func TestPasskeyAdminReset(t *testing.T) {
	var admin *application.Admin
	srv := startServer(t, nil, fx.Populate(&admin))
	api := srv.apiClient().in(t)
	root := newAdmin(t, admin)
	as := bearer(api.login(t, root).AccessToken)
	u := api.register(t)
	access := api.login(t, u).AccessToken
	_, cred := registerPasskey(t, api, access, "Lost phone")
	api.loginMFA(t, u)
	api.do("DELETE", "/api/users/"+u.User.ID+"/mfa", nil, as...).expect(http.StatusNoContent)
	if st := api.meStatus(access); st != http.StatusUnauthorized {
		t.Errorf("the user's session after the admin's reset: %d, want 401", st)
	}
	fresh := api.login(t, u).AccessToken
	if got := listPasskeys(t, api, fresh); len(got) != 0 {
		t.Fatalf("passkeys after the admin's reset: %+v", got)
	}
	_, r := passkeyLogin(t, api, cred, testenv.AssertOptions{})
	r.expectProblem(http.StatusUnauthorized, "invalid_passkey")
}

// TestPasskeysOffOnIPAddress: a service whose public URL is an IP address (no domain to bind
// passkeys to) starts and logs in with passwords; its passkey ceremonies answer 501.
func TestPasskeysOffOnIPAddress(t *testing.T) {
	srv := startServer(t, map[string]string{"PORTCULLIS_PUBLIC_URL": "http://127.0.0.1:8080"})
	api := srv.apiClient().in(t)
	a := api.register(t)
	access := api.login(t, a).AccessToken
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(access)...).expectProblem(http.StatusNotImplemented, "passkeys_off")
	api.do("POST", "/api/auth/passkey/begin", nil).expectProblem(http.StatusNotImplemented, "passkeys_off")
	if !strings.Contains(srv.Logs.String(), "passkeys are off") {
		t.Error("no warning at start that passkeys are off")
	}
}

// TestPasskeyCeremonyExpires: a ceremony lives five minutes on the service's clock; an answer
// after that is refused, registration and login alike, and a new ceremony works.
func TestPasskeyCeremonyExpires(t *testing.T) {
	clk := newTestClock()
	srv := startServer(t, nil, withClock(clk))
	api := srv.apiClient().in(t)
	a := api.register(t)
	access := api.login(t, a).AccessToken

	var c ceremony
	api.do("POST", "/api/users/me/passkeys/begin", map[string]string{"password": goodPassword}, bearer(access)...).expect(http.StatusOK).decode(&c)
	resp, _, err := testenv.SoftCreate(c.Options, passkeyOrigin)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(5 * time.Minute)
	api.do("POST", "/api/users/me/passkeys/finish", map[string]any{"ceremony": c.Ceremony, "credential": json.RawMessage(resp)},
		bearer(access)...).expectProblem(http.StatusUnauthorized, "invalid_ceremony")
	access = api.login(t, a).AccessToken // the access token aged too
	_, cred := registerPasskey(t, api, access, "Key")

	var l ceremony
	api.do("POST", "/api/auth/passkey/begin", nil).expect(http.StatusOK).decode(&l)
	assertion, err := cred.Assert(l.Options, testenv.AssertOptions{Origin: passkeyOrigin})
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(5*time.Minute + time.Second)
	api.do("POST", "/api/auth/passkey/finish", map[string]any{"ceremony": l.Ceremony, "credential": json.RawMessage(assertion)}).
		expectProblem(http.StatusUnauthorized, "invalid_ceremony")
	_, r := passkeyLogin(t, api, cred, testenv.AssertOptions{})
	r.expect(http.StatusOK)
}
