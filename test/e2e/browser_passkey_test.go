package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// passkeyPage is the browser test's page: an app that registers a passkey for a signed-in user
// and logs in with it, alone or after a password, through navigator.credentials and the JSON
// forms of WebAuthn options and credentials. It is served by the test on the app's origin,
// with /api proxied to Portcullis (the app and its identity service behind one origin, the
// usual deployment for passkeys, whose relying-party id is the site's domain).
const passkeyPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passkeys</title>
<style>body{font:16px system-ui;margin:2em;max-width:44em} #status{font-weight:bold} pre{background:#eee;padding:.5em;white-space:pre-wrap}</style>
</head><body>
<h1>Passkeys</h1>
<p id="status">Signed out</p>
<ul id="passkeys"></ul>
<pre id="log"></pre>
<script>
const show = (s) => { document.getElementById("status").textContent = s; };
const log = (s) => { document.getElementById("log").textContent += s + "\n"; };
async function api(method, path, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) {}
  log(method + " " + path + " → " + r.status + (json && json.code ? " " + json.code : ""));
  return {status: r.status, body: json};
}
async function assertion(options) {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
  const cred = await navigator.credentials.get({publicKey});
  return cred.toJSON();
}
window.app = {
  ready: true,
  async password(email, password) {
    const r = await api("POST", "/api/auth/login", {email, password});
    if (r.status === 200 && !r.body.mfa_required) show("Signed in as " + email + " (password)");
    return r;
  },
  async register(token, name, password) {
    const begin = await api("POST", "/api/users/me/passkeys/begin", {password}, token);
    if (begin.status !== 200) return begin;
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(begin.body.options.publicKey);
    const cred = await navigator.credentials.create({publicKey});
    const finish = await api("POST", "/api/users/me/passkeys/finish",
      {ceremony: begin.body.ceremony, credential: cred.toJSON(), name}, token);
    if (finish.status === 201) {
      show("Passkey “" + finish.body.passkey.name + "” registered");
      const li = document.createElement("li");
      li.textContent = finish.body.passkey.name + " (" + finish.body.passkey.id + ")";
      document.getElementById("passkeys").appendChild(li);
    }
    return finish;
  },
  async logout(token) {
    const r = await api("POST", "/api/auth/logout", undefined, token);
    if (r.status === 204) show("Signed out");
    return r;
  },
  async passkeyLogin() {
    const begin = await api("POST", "/api/auth/passkey/begin", {});
    if (begin.status !== 200) return begin;
    const finish = await api("POST", "/api/auth/passkey/finish",
      {ceremony: begin.body.ceremony, credential: await assertion(begin.body.options)});
    show(finish.status === 200 ? "Signed in as " + finish.body.user.email + " with a passkey"
                               : "Passkey refused: " + (finish.body && finish.body.code));
    return finish;
  },
  async secondFactor(mfaToken) {
    const begin = await api("POST", "/api/auth/passkey/begin", {mfa_token: mfaToken});
    if (begin.status !== 200) return begin;
    const verify = await api("POST", "/api/auth/mfa/verify",
      {mfa_token: mfaToken, passkey: await assertion(begin.body.options)});
    if (verify.status === 200) show("Signed in as " + verify.body.user.email + " with password and passkey");
    return verify;
  },
};
</script>
</body></html>`

// passkeyAppServer serves passkeyPage at / on localhost (a secure context for WebAuthn over
// plain HTTP) and proxies /api/ to the Portcullis whose URL is set in target once it runs.
func passkeyAppServer(t *testing.T, target *atomic.Pointer[url.URL]) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			httputil.NewSingleHostReverseProxy(target.Load()).ServeHTTP(w, r)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(passkeyPage))
	}))
	t.Cleanup(srv.Close)
	return strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
}

// cdpCall runs one CDP command on tab's page.
func cdpCall[P, R any](tab *testenv.Tab, c cdp.Command[P, R], p P) R {
	return testenv.Run(tab, func(ctx context.Context, tg *chromedp.Target) (R, error) { return cdp.Call(ctx, tg, c, p) })
}

type pageAnswer struct {
	Status int            `json:"status"`
	Body   map[string]any `json:"body"`
}

// TestBrowserPasskeys drives Chromium with a CDP virtual authenticator (CTAP2, internal,
// resident keys, user verification) through the page above: register a passkey, sign out,
// sign in with it alone, then with a password and the passkey as second factor; and a clone
// of the credential whose signature counter is behind is refused (SECURITY I65). Screenshots
// of each stage go to the test's artifact directory.
func TestBrowserPasskeys(t *testing.T) {
	var target atomic.Pointer[url.URL]
	app := passkeyAppServer(t, &target)
	s := startServer(t, map[string]string{
		"PORTCULLIS_PUBLIC_URL":      app,
		"PORTCULLIS_ALLOWED_ORIGINS": app,
		"PORTCULLIS_LOG_LEVEL":       "info",
	})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	target.Store(u)
	api := s.apiClient().in(t)
	a := api.register(t)

	b := testenv.NewBrowser(t)
	tab := b.Tab(t)
	cdpCall(tab, webauthn.Enable, webauthn.EnableParams{})
	auth := cdpCall(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}}).AuthenticatorID
	tab.Do(chromedp.Navigate(app + "/"))
	tab.WaitFor(`window.app && app.ready`)

	call := func(js string) pageAnswer {
		t.Helper()
		return testenv.Eval[pageAnswer](tab, js)
	}
	email := jsonString(a.Email)
	signIn := call(`app.password(` + email + `, ` + jsonString(a.Password) + `)`)
	if signIn.Status != 200 || signIn.Body["access_token"] == nil {
		t.Fatalf("password sign-in: %+v", signIn)
	}
	access := signIn.Body["access_token"].(string)

	// Register a passkey in the browser.
	reg := call(`app.register(` + jsonString(access) + `, "Chromium virtual authenticator", ` + jsonString(a.Password) + `)`)
	if reg.Status != 201 {
		t.Fatalf("registration: %+v", reg)
	}
	creds := cdpCall(tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth}).Credentials
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" || string(creds[0].UserHandle) != a.User.ID {
		t.Fatalf("the authenticator holds %+v, want one resident credential for localhost and the user", creds)
	}
	tab.WaitText("status", "registered")
	tab.Screenshot("passkey-1-registered")

	// Sign out, and sign in with the passkey alone.
	if r := call(`app.logout(` + jsonString(access) + `)`); r.Status != 204 {
		t.Fatalf("logout: %+v", r)
	}
	login := call(`app.passkeyLogin()`)
	if login.Status != 200 {
		t.Fatalf("passkey login: %+v", login)
	}
	claims := parseJWT(t, login.Body["access_token"].(string)).Claims
	if claims.Sub != a.User.ID || !slices.Equal(claims.AMR, []string{"hwk", "user"}) {
		t.Fatalf("passkey login: sub %s amr %v, want %s [hwk user]", claims.Sub, claims.AMR, a.User.ID)
	}
	tab.WaitText("status", "with a passkey")
	tab.Screenshot("passkey-2-signed-in-with-passkey")

	// The password now wants the passkey as its second factor.
	m := call(`app.password(` + email + `, ` + jsonString(a.Password) + `)`)
	if m.Status != 200 || m.Body["mfa_required"] != true || !slices.Contains(anyStrings(m.Body["methods"]), "passkey") {
		t.Fatalf("password sign-in of a user with a passkey: %+v", m)
	}
	second := call(`app.secondFactor(` + jsonString(m.Body["mfa_token"].(string)) + `)`)
	if second.Status != 200 {
		t.Fatalf("passkey as second factor: %+v", second)
	}
	if amr := parseJWT(t, second.Body["access_token"].(string)).Claims.AMR; !slices.Equal(amr, []string{"pwd", "hwk"}) {
		t.Fatalf("password + passkey: amr %v, want [pwd hwk]", amr)
	}
	tab.WaitText("status", "with password and passkey")
	tab.Screenshot("passkey-3-second-factor")

	// A clone: the same credential (id, key, user) in an authenticator whose counter is behind
	// the one Portcullis last saw. Its assertion is refused.
	cur := cdpCall(tab, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth}).Credentials[0]
	if cur.SignCount < 2 {
		t.Fatalf("the virtual authenticator's counter is %v after two assertions; it keeps none?", cur.SignCount)
	}
	clone := exported(cur)
	clone["signCount"] = cur.SignCount - 2
	cdpCall(tab, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: cur.CredentialID})
	cdpCall(tab, addCredential, map[string]any{"authenticatorId": auth, "credential": clone})
	refused := call(`app.passkeyLogin()`)
	if refused.Status != 401 || refused.Body["code"] != "invalid_passkey" {
		t.Fatalf("a clone's assertion (counter %v after %v): %+v, want 401 invalid_passkey", cur.SignCount-1, cur.SignCount, refused)
	}
	tab.WaitText("status", "Passkey refused")
	tab.Screenshot("passkey-4-clone-refused")
	if !strings.Contains(s.Logs.String(), `"outcome":"counter_regression"`) {
		t.Errorf("the refusal was not logged as a counter regression")
	}

	// The genuine authenticator, its counter ahead, still signs in.
	cdpCall(tab, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: cur.CredentialID})
	cdpCall(tab, addCredential, map[string]any{"authenticatorId": auth, "credential": exported(cur)})
	if r := call(`app.passkeyLogin()`); r.Status != 200 {
		t.Fatalf("the genuine credential after a clone was refused: %+v", r)
	}
}

// addCredential is WebAuthn.addCredential with the credential as exported, minus the
// credential-manager (CMTG) members the typed parameters always send and the virtual
// authenticator refuses when it does not support that extension.
var addCredential = cdp.Command[map[string]any, cdp.Empty]{Method: webauthn.CommandAddCredential}

// exported is the credential as WebAuthn.getCredentials returned it, for WebAuthn.addCredential
// (byte members in base64, as CDP carries them).
func exported(c *webauthn.Credential) map[string]any {
	return map[string]any{
		"credentialId": c.CredentialID, "isResidentCredential": c.IsResidentCredential, "rpId": c.RpID,
		"privateKey": c.PrivateKey, "userHandle": c.UserHandle, "signCount": c.SignCount,
		"backupEligibility": c.BackupEligibility, "backupState": c.BackupState,
		"userName": c.UserName, "userDisplayName": c.UserDisplayName,
	}
}

// jsonString quotes s as a JavaScript string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func anyStrings(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
