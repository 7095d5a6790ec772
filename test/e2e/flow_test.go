package e2e

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestFullFlow walks the whole API on every backend: register → login (email, username) → me
// (Bearer, x-access-token, cookie) → PATCH me → refresh (cookie, body) → sessions → change
// password → end another session → logout → logout-all, plus /readyz and the JWKS.
func TestFullFlow(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, b.env(t))
			_ = fullFlow(t, srv)
		})
	}
}

// fullFlow runs the flow on srv and returns every secret it handled (passwords, access and
// refresh tokens), for the log-secrecy test.
func fullFlow(t *testing.T, srv *server) (secrets []string) {
	api := srv.apiClient().in(t)

	// register
	a := api.register(t)
	if a.User.EmailVerified {
		t.Error("a new user is already verified")
	}

	// login by email, in a browser-like client with a jar
	browser := srv.client().in(t)
	r := browser.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusOK)
	var tA tokens
	r.decode(&tA)
	if tA.TokenType != "Bearer" || tA.ExpiresIn != 900 || tA.RefreshExpiresIn <= 0 || tA.User == nil || tA.User.ID != a.User.ID {
		t.Fatalf("login body: %s", r.Body)
	}
	if strings.Contains(string(r.Body), "password") || strings.Contains(string(r.Body), "$argon2") {
		t.Errorf("login body mentions the password or its hash: %s", r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("login Cache-Control %q, want no-store", cc)
	}
	if browser.cookie("/", "access_token") != tA.AccessToken || browser.cookie("/api/auth/refresh", "refresh_token") != tA.RefreshToken ||
		browser.cookie("/", "logged_in") != "true" {
		t.Fatalf("login cookies not set as expected: %v", r.Header.Values("Set-Cookie"))
	}
	jA := parseJWT(t, tA.AccessToken)
	if jA.Claims.Sub != a.User.ID || jA.Claims.Sid == "" || !slices.Equal(jA.Claims.Roles, []string{"user"}) || jA.Header.Typ != "at+jwt" {
		t.Errorf("access token: header %+v claims %+v", jA.Header, jA.Claims)
	}

	// login by username, a second session
	tB := api.loginWith(t, map[string]string{"username": a.Username, "password": a.Password})
	jB := parseJWT(t, tB.AccessToken)
	if jB.Claims.Sid == jA.Claims.Sid || tB.RefreshToken == tA.RefreshToken {
		t.Fatal("a second login reused the session")
	}

	// me, three transports
	var me struct {
		User user `json:"user"`
	}
	api.do("GET", "/api/users/me", nil, bearer(tA.AccessToken)...).expect(http.StatusOK).decode(&me)
	if me.User.ID != a.User.ID || me.User.Email != a.Email {
		t.Fatalf("me by bearer: %+v", me.User)
	}
	api.do("GET", "/api/users/me", nil, "X-Access-Token", tB.AccessToken).expect(http.StatusOK).decode(&me)
	if me.User.ID != a.User.ID {
		t.Fatalf("me by x-access-token: %+v", me.User)
	}
	browser.do("GET", "/api/users/me", nil).expect(http.StatusOK).decode(&me)
	if me.User.ID != a.User.ID {
		t.Fatalf("me by cookie: %+v", me.User)
	}

	// PATCH me (cookie-authenticated, from the allowed origin)
	browser.do("PATCH", "/api/users/me", map[string]string{"name": "Ada Lovelace"}).expect(http.StatusOK).decode(&me)
	if me.User.Name != "Ada Lovelace" || me.User.Username != a.Username {
		t.Fatalf("PATCH me: %+v", me.User)
	}
	api.do("GET", "/api/users/me", nil, bearer(tB.AccessToken)...).expect(http.StatusOK).decode(&me)
	if me.User.Name != "Ada Lovelace" {
		t.Fatalf("PATCH me not kept: %+v", me.User)
	}

	// refresh by cookie
	var rA tokens
	browser.do("POST", "/api/auth/refresh", nil).expect(http.StatusOK).decode(&rA)
	if rA.RefreshToken == tA.RefreshToken || rA.AccessToken == "" || rA.User != nil {
		t.Fatalf("refresh by cookie: %+v", rA)
	}
	if browser.cookie("/api/auth/refresh", "refresh_token") != rA.RefreshToken || browser.cookie("/", "access_token") != rA.AccessToken {
		t.Fatal("refresh did not update the cookies")
	}
	if parseJWT(t, rA.AccessToken).Claims.Sid != jA.Claims.Sid {
		t.Fatal("refresh changed the session")
	}
	// refresh by body
	var rB tokens
	api.refresh(tB.RefreshToken).expect(http.StatusOK).decode(&rB)
	if rB.RefreshToken == tB.RefreshToken {
		t.Fatal("refresh by body did not rotate")
	}
	if api.meStatus(rB.AccessToken) != http.StatusOK {
		t.Fatal("refreshed access token refused")
	}

	// sessions: both, the current one marked
	var list struct {
		Sessions []sessionView `json:"sessions"`
	}
	api.do("GET", "/api/sessions", nil, bearer(rA.AccessToken)...).expect(http.StatusOK).decode(&list)
	if len(list.Sessions) != 2 {
		t.Fatalf("sessions: %+v", list.Sessions)
	}
	for _, s := range list.Sessions {
		if (s.ID == jA.Claims.Sid) != s.Current || (s.ID != jA.Claims.Sid && s.ID != jB.Claims.Sid) || s.CreatedAt == "" {
			t.Errorf("session %+v (current is %s)", s, jA.Claims.Sid)
		}
	}

	// change password from A: B dies, A lives
	const newPassword = "a much better passphrase"
	browser.do("PUT", "/api/users/me/password", map[string]string{"current_password": a.Password, "new_password": newPassword}).
		expect(http.StatusNoContent)
	if api.meStatus(rB.AccessToken) != http.StatusUnauthorized {
		t.Error("the other session's access token survives a password change")
	}
	api.refresh(rB.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	if api.meStatus(rA.AccessToken) != http.StatusOK {
		t.Fatal("the current session died with the password change")
	}
	api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).
		expectProblem(http.StatusUnauthorized, "invalid_credentials")
	a.Password = newPassword
	tD := api.login(t, a)

	// end another own session
	sidD := parseJWT(t, tD.AccessToken).Claims.Sid
	browser.do("DELETE", "/api/sessions/"+sidD, nil).expect(http.StatusNoContent)
	if api.meStatus(tD.AccessToken) != http.StatusUnauthorized {
		t.Error("a deleted session's access token still works")
	}
	api.refresh(tD.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")

	// logout by cookie: everything of A dies at once
	r = browser.do("POST", "/api/auth/logout", nil).expect(http.StatusNoContent)
	if got := r.Header.Get("Clear-Site-Data"); got != `"cookies"` {
		t.Errorf("logout Clear-Site-Data %q", got)
	}
	if browser.cookie("/", "access_token") != "" || browser.cookie("/api/auth/refresh", "refresh_token") != "" || browser.cookie("/", "logged_in") != "" {
		t.Error("logout left cookies in the jar")
	}
	if api.meStatus(rA.AccessToken) != http.StatusUnauthorized {
		t.Error("access token works after logout")
	}
	api.refresh(rA.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	browser.do("GET", "/api/users/me", nil).expectProblem(http.StatusUnauthorized, "unauthenticated")

	// logout-all
	tE, tF := api.login(t, a), api.login(t, a)
	api.do("POST", "/api/auth/logout-all", nil, bearer(tE.AccessToken)...).expect(http.StatusNoContent)
	for _, tk := range []tokens{tE, tF} {
		if api.meStatus(tk.AccessToken) != http.StatusUnauthorized {
			t.Error("access token works after logout-all")
		}
		api.refresh(tk.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	}

	secrets = append(secrets, goodPassword, newPassword)
	for _, tk := range []tokens{tA, tB, rA, rB, tD, tE, tF} {
		secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
	}

	// readiness and keys
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	api.do("GET", "/readyz", nil).expect(http.StatusOK).decode(&ready)
	if ready.Status != "ok" || len(ready.Checks) == 0 {
		t.Errorf("readyz: %+v", ready)
	}
	if kids := api.jwksKids(t); !slices.Contains(kids, jA.Header.Kid) || jA.Header.Kid == "" {
		t.Errorf("JWKS kids %v lack the token's kid %q", kids, jA.Header.Kid)
	}
	return secrets
}

// TestRestartKeepsUsersSessionsAndKey stops a server and starts another on the same data
// directory and database: users, sessions and the signing key survive.
func TestRestartKeepsUsersSessionsAndKey(t *testing.T) {
	for _, b := range backends() {
		if !b.persistent {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env := b.env(t)
			env["PORTCULLIS_DATA_DIR"] = t.TempDir()
			first := startServer(t, env)
			api := first.apiClient().in(t)
			a := api.register(t)
			tk := api.login(t, a)
			kid := parseJWT(t, tk.AccessToken).Header.Kid
			first.stop()

			second := startServer(t, env)
			api = second.apiClient().in(t)
			if kids := api.jwksKids(t); !slices.Contains(kids, kid) {
				t.Fatalf("after restart the JWKS kids are %v, want %q among them", kids, kid)
			}
			if api.meStatus(tk.AccessToken) != http.StatusOK {
				t.Fatal("the access token from before the restart is refused")
			}
			var r tokens
			api.refresh(tk.RefreshToken).expect(http.StatusOK).decode(&r)
			if got := parseJWT(t, r.AccessToken).Header.Kid; got != kid {
				t.Errorf("after restart tokens are signed with %q, before with %q", got, kid)
			}
			api.login(t, a)
		})
	}
}

// TestMultipleInstancesShareLogout runs two instances over one database and session store
// (SECURITY H60, lite): a token from one works on the other, a logout on one is seen by the
// other at once.
func TestMultipleInstancesShareLogout(t *testing.T) {
	for _, b := range backends() {
		if !b.persistent {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env := b.env(t)
			if _, external := env["PORTCULLIS_DATABASE_URL"]; external {
				// separate data directories sharing one key-encryption key, as real instances would
				env["PORTCULLIS_KEY_ENCRYPTION_KEY"] = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
				envB := maps.Clone(env)
				envB["PORTCULLIS_DATA_DIR"] = t.TempDir()
				env["PORTCULLIS_DATA_DIR"] = t.TempDir()
				sharedLogout(t, startServer(t, env), startServer(t, envB))
				return
			}
			env["PORTCULLIS_DATA_DIR"] = t.TempDir() // one SQLite file, two processes' worth of pools
			sharedLogout(t, startServer(t, env), startServer(t, env))
		})
	}
}

func sharedLogout(t *testing.T, one, two *server) {
	c1, c2 := one.apiClient().in(t), two.apiClient().in(t)
	a := c1.register(t)
	tk := c2.login(t, a) // the user registered on one logs in on two
	if c1.meStatus(tk.AccessToken) != http.StatusOK {
		t.Fatal("a token from instance two is refused by instance one")
	}
	var r tokens
	c1.refresh(tk.RefreshToken).expect(http.StatusOK).decode(&r)
	if c2.meStatus(r.AccessToken) != http.StatusOK {
		t.Fatal("a token refreshed on instance one is refused by instance two")
	}
	c2.do("POST", "/api/auth/logout", nil, bearer(r.AccessToken)...).expect(http.StatusNoContent)
	if c1.meStatus(r.AccessToken) != http.StatusUnauthorized || c1.meStatus(tk.AccessToken) != http.StatusUnauthorized {
		t.Error("instance one still accepts a token logged out on instance two")
	}
	c1.refresh(r.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
}

// TestReadmeWalkthrough replays README.md's curl walk-through over HTTP as written: a client
// with a cookie jar and no Origin header, like curl.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	curl := srv.client().in(t)
	curl.origin = "" // curl sends no Origin
	email := "ada-" + randHex(3) + "@example.com"

	// register
	var reg struct {
		User user `json:"user"`
	}
	curl.do("POST", "/api/auth/register", `{"email":"`+email+`","password":"correct horse battery","name":"Ada"}`).
		expect(http.StatusCreated).decode(&reg)
	if reg.User.Name != "Ada" {
		t.Errorf("registered %+v", reg.User)
	}
	// log in (the cookie jar keeps access_token, refresh_token and logged_in)
	var login tokens
	curl.do("POST", "/api/auth/login", `{"email":"`+email+`","password":"correct horse battery"}`).expect(http.StatusOK).decode(&login)
	if curl.cookie("/", "access_token") == "" || curl.cookie("/api/auth", "refresh_token") == "" || curl.cookie("/", "logged_in") != "true" {
		t.Fatal("the jar lacks the login cookies")
	}
	// who am I: with the bearer token...
	srv.apiClient().in(t).do("GET", "/api/users/me", nil, bearer(login.AccessToken)...).expect(http.StatusOK)
	// ...or with the cookie
	curl.do("GET", "/api/users/me", nil).expect(http.StatusOK)
	// refresh: rotates the refresh token (from the cookie); no Origin, as curl sends
	curl.do("POST", "/api/auth/refresh", nil).expect(http.StatusOK)
	if curl.cookie("/api/auth", "refresh_token") == login.RefreshToken {
		t.Error("the refresh cookie was not rotated")
	}
	// log out: this session ends at once; its tokens stop working
	curl.do("POST", "/api/auth/logout", nil).expect(http.StatusNoContent)
	curl.do("GET", "/api/users/me", nil).expect(http.StatusUnauthorized)
}
