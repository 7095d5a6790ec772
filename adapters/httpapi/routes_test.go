package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestRegisterLoginMeHappyPath(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("POST", "/api/auth/register", map[string]any{
		"email": " Alice@Example.com ", "password": password, "name": "Alice", "username": "alice"}))
	if r.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", r.StatusCode, r.body)
	}
	u := r.json(t)["user"].(map[string]any)
	if u["email"] != "alice@example.com" || u["username"] != "alice" || u["name"] != "Alice" ||
		u["email_verified"] != false || len(u["roles"].([]any)) != 1 || u["roles"].([]any)[0] != "user" {
		t.Fatalf("user = %v", u)
	}
	for _, k := range []string{"id", "created_at", "updated_at"} {
		if s, _ := u[k].(string); s == "" {
			t.Fatalf("user.%s missing: %v", k, u)
		}
	}
	if strings.Contains(string(r.body), "fake$") || strings.Contains(string(r.body), "hash") {
		t.Fatalf("register leaks the hash: %s", r.body)
	}

	s := e.login("alice@example.com")
	if s.body["token_type"] != "Bearer" || s.body["expires_in"].(float64) != 900 || s.body["refresh_expires_in"].(float64) <= 0 {
		t.Fatalf("login body = %v", s.body)
	}
	if s.body["user"].(map[string]any)["id"] != u["id"] {
		t.Fatalf("login user = %v", s.body["user"])
	}

	// By username too.
	r = e.do(req("POST", "/api/auth/login", map[string]any{"username": "ALICE", "password": password}))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("login by username: %d %s", r.StatusCode, r.body)
	}

	r = e.do(req("GET", "/api/users/me", nil, bearer(s.access)...))
	if r.StatusCode != http.StatusOK || r.json(t)["user"].(map[string]any)["email"] != "alice@example.com" {
		t.Fatalf("me: %d %s", r.StatusCode, r.body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("me Cache-Control = %q", r.Header.Get("Cache-Control"))
	}
	// x-access-token works as well.
	r = e.do(req("GET", "/api/users/me", nil, "X-Access-Token", s.access))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("me via x-access-token: %d %s", r.StatusCode, r.body)
	}
	// The scheme is case-insensitive.
	r = e.do(req("GET", "/api/users/me", nil, "Authorization", "bEaReR "+s.access))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("me with bEaReR: %d %s", r.StatusCode, r.body)
	}
}

func TestUpdateMeAndChangePassword(t *testing.T) {
	e := newEnv(t)
	e.register("bob@example.com")
	s := e.login("bob@example.com")
	other := e.login("bob@example.com")

	r := e.do(req("PATCH", "/api/users/me", `{"name":"Bob B","username":"Bobby"}`, bearer(s.access)...))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("patch: %d %s", r.StatusCode, r.body)
	}
	if u := r.json(t)["user"].(map[string]any); u["name"] != "Bob B" || u["username"] != "bobby" {
		t.Fatalf("patched user = %v", u)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("PATCH /api/users/me is not no-store")
	}

	r = e.do(req("PUT", "/api/users/me/password", map[string]any{"current_password": password, "new_password": "a brand new passphrase"}, bearer(s.access)...))
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("change password: %d %s", r.StatusCode, r.body)
	}
	// The other session is revoked, this one survives.
	if r := e.do(req("GET", "/api/users/me", nil, bearer(other.access)...)); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("other session after password change: %d", r.StatusCode)
	}
	if r := e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)); r.StatusCode != http.StatusOK {
		t.Fatalf("own session after password change: %d", r.StatusCode)
	}
}

func TestA5_ChangePasswordWrongCurrent(t *testing.T) {
	e := newEnv(t)
	e.register("carol@example.com")
	s := e.login("carol@example.com")
	r := e.do(req("PUT", "/api/users/me/password", map[string]any{"current_password": "wrong password!", "new_password": "another good passphrase"}, bearer(s.access)...))
	expectProblem(t, r, 401, "invalid_credentials")
	if r := e.do(req("POST", "/api/auth/login", map[string]any{"email": "carol@example.com", "password": password})); r.StatusCode != 200 {
		t.Fatalf("old password no longer works: %d", r.StatusCode)
	}
	r = e.do(req("PUT", "/api/users/me/password", `{"new_password":"another good passphrase"}`, bearer(s.access)...))
	m := expectProblem(t, r, 422, "validation_failed")
	if m["errors"].([]any)[0].(map[string]any)["field"] != "current_password" {
		t.Fatalf("errors = %v", m["errors"])
	}
}

func TestRefreshRotatesAndRejectsReuse(t *testing.T) {
	e := newEnv(t)
	e.register("dan@example.com")
	s := e.login("dan@example.com")

	r := e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh}))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.body)
	}
	m := r.json(t)
	if m["user"] != nil || m["token_type"] != "Bearer" || m["refresh_token"] == s.refresh || m["access_token"] == "" {
		t.Fatalf("refresh body = %v", m)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("refresh response is not no-store")
	}
	if findCookie(r.Cookies(), "access_token") == nil || findCookie(r.Cookies(), "refresh_token") == nil {
		t.Fatalf("refresh sets no cookies: %v", r.Header.Values("Set-Cookie"))
	}

	// With the refresh cookie only, no body, from the allowed origin.
	next := findCookie(r.Cookies(), "refresh_token")
	r = e.do(req("POST", "/api/auth/refresh", nil, "Cookie", cookieHeader(next), "Origin", allowedOrigin))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh by cookie: %d %s", r.StatusCode, r.body)
	}

	// A malformed token and a missing one.
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", `{"refresh_token":"nope"}`)), 401, "invalid_refresh_token")
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", nil)), 401, "unauthenticated")
	// An access token presented as a refresh token.
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.access})), 401, "invalid_refresh_token")
}

func TestLogoutRevokesAndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.register("erin@example.com")
	s := e.login("erin@example.com")

	r := e.do(req("POST", "/api/auth/logout", nil, bearer(s.access)...))
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.StatusCode, r.body)
	}
	expectProblem(t, e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)), 401, "invalid_token")
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh})), 401, "invalid_refresh_token")

	// Again, with the dead token, with garbage, and with nothing: still 204.
	for name, r := range map[string]response{
		"dead token": e.do(req("POST", "/api/auth/logout", nil, bearer(s.access)...)),
		"garbage":    e.do(req("POST", "/api/auth/logout", nil, "Authorization", "Bearer garbage")),
		"nothing":    e.do(req("POST", "/api/auth/logout", nil)),
		"bad body":   e.do(req("POST", "/api/auth/logout", `{"refresh_token":"x.y"}`)),
	} {
		if r.StatusCode != http.StatusNoContent {
			t.Errorf("%s: logout = %d %s", name, r.StatusCode, r.body)
		}
	}

	// Logout by refresh token alone ends the session.
	s2 := e.login("erin@example.com")
	if r := e.do(req("POST", "/api/auth/logout", map[string]any{"refresh_token": s2.refresh})); r.StatusCode != 204 {
		t.Fatalf("logout by refresh token: %d", r.StatusCode)
	}
	expectProblem(t, e.do(req("GET", "/api/users/me", nil, bearer(s2.access)...)), 401, "invalid_token")
}

func TestLogoutAll(t *testing.T) {
	e := newEnv(t)
	e.register("fay@example.com")
	a, b := e.login("fay@example.com"), e.login("fay@example.com")
	r := e.do(req("POST", "/api/auth/logout-all", nil, bearer(a.access)...))
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Clear-Site-Data") != `"cookies"` {
		t.Fatalf("logout-all: %d %v", r.StatusCode, r.Header)
	}
	for _, s := range []session{a, b} {
		expectProblem(t, e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)), 401, "invalid_token")
	}
	expectProblem(t, e.do(req("POST", "/api/auth/logout-all", nil)), 401, "unauthenticated")
}

// A route that takes no body refuses one that is not the empty JSON object with the usual 400,
// and changes nothing (SECURITY F44); "{}" is accepted.
func TestBodilessRoutesRefuseABodyAndChangeNothing(t *testing.T) {
	e := newEnv(t)
	e.register("root@example.com", domain.RoleUser, domain.RoleAdmin)
	root := e.login("root@example.com")
	id := e.register("ida@example.com")
	a, b := e.login("ida@example.com"), e.login("ida@example.com")
	list := expectStatus(t, e.call("GET", "/api/sessions", nil, a.access), 200)["sessions"].([]any)
	var other string
	for _, x := range list {
		if m := x.(map[string]any); m["current"] != true {
			other = m["id"].(string)
		}
	}
	routes := []struct {
		method, path, access string
	}{
		{"POST", "/api/auth/logout-all", a.access},
		{"DELETE", "/api/sessions/" + other, a.access},
		{"DELETE", "/api/users/me/passkeys/some-id", a.access},
		{"DELETE", "/api/users/" + id, root.access},
		{"POST", "/api/users/" + id + "/unlock", root.access},
		{"DELETE", "/api/users/" + id + "/mfa", root.access},
		{"POST", "/api/users/" + id + "/verification-email", root.access},
	}
	for _, r := range routes {
		for body, code := range map[string]string{`{`: "malformed_json", `{} {}`: "malformed_json",
			`{"all":true}`: "invalid_body", `[]`: "invalid_body", `"x"`: "invalid_body"} {
			got := e.do(req(r.method, r.path, body, bearer(r.access)...))
			if got.StatusCode != 400 || got.json(t)["code"] != code {
				t.Errorf("%s %s with %s: %d %s, want 400 %s", r.method, r.path, body, got.StatusCode, got.body, code)
			}
		}
	}
	for _, s := range []session{a, b} {
		expectStatus(t, e.call("GET", "/api/users/me", nil, s.access), 200)
	}
	if m := expectStatus(t, e.call("GET", "/api/users/me/mfa", nil, a.access), 200); m["totp"] != "none" {
		t.Fatalf("a refused enrolment began one: %v", m)
	}
	if r := e.do(req("DELETE", "/api/sessions/"+other, "{}", bearer(a.access)...)); r.StatusCode != 204 {
		t.Fatalf("revoke with an empty object: %d %s", r.StatusCode, r.body)
	}
	expectProblem(t, e.call("GET", "/api/users/me", nil, b.access), 401, "invalid_token")
}

func TestSessionsListAndRevoke(t *testing.T) {
	e := newEnv(t)
	e.register("gus@example.com")
	other := e.register("hal@example.com")
	_ = other
	a := e.login("gus@example.com")
	b := e.login("gus@example.com")
	h := e.login("hal@example.com")

	r := e.do(req("GET", "/api/sessions", nil, append(bearer(a.access), "User-Agent", "TestAgent/1")...))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}
	list := r.json(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("sessions = %v", list)
	}
	var current, otherID string
	for _, x := range list {
		m := x.(map[string]any)
		for _, k := range []string{"id", "created_at", "last_used_at", "expires_at", "ip", "user_agent", "current"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("session lacks %s: %v", k, m)
			}
		}
		if m["current"] == true {
			current = m["id"].(string)
		} else {
			otherID = m["id"].(string)
		}
	}
	if current == "" || otherID == "" {
		t.Fatalf("current not marked: %v", list)
	}

	// Another user's session is a 404, and stays alive.
	hs := e.do(req("GET", "/api/sessions", nil, bearer(h.access)...)).json(t)["sessions"].([]any)[0].(map[string]any)["id"].(string)
	expectProblem(t, e.do(req("DELETE", "/api/sessions/"+hs, nil, bearer(a.access)...)), 404, "not_found")
	if r := e.do(req("GET", "/api/users/me", nil, bearer(h.access)...)); r.StatusCode != 200 {
		t.Fatalf("hal's session was ended by gus: %d", r.StatusCode)
	}

	if r := e.do(req("DELETE", "/api/sessions/"+otherID, nil, bearer(a.access)...)); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
	}
	expectProblem(t, e.do(req("GET", "/api/users/me", nil, bearer(b.access)...)), 401, "invalid_token")
}

func TestRoleRoutes(t *testing.T) {
	e := newEnv(t)
	e.register("user@example.com")
	e.register("mod@example.com", domain.RoleUser, domain.RoleModerator)
	e.register("admin@example.com", domain.RoleUser, domain.RoleAdmin)
	tok := map[string]string{
		"user":  e.login("user@example.com").access,
		"mod":   e.login("mod@example.com").access,
		"admin": e.login("admin@example.com").access,
	}
	cases := []struct {
		path, who string
		want      int
	}{
		{"/api/test/all", "", 200},
		{"/api/test/user", "", 401},
		{"/api/test/user", "user", 200},
		{"/api/test/user", "mod", 200},
		{"/api/test/user", "admin", 200},
		{"/api/test/mod", "user", 403},
		{"/api/test/mod", "mod", 200},
		{"/api/test/mod", "admin", 200},
		{"/api/test/admin", "user", 403},
		{"/api/test/admin", "mod", 403},
		{"/api/test/admin", "admin", 200},
	}
	for _, tc := range cases {
		t.Run(tc.path+"/"+tc.who, func(t *testing.T) {
			var h []string
			if tc.who != "" {
				h = bearer(tok[tc.who])
			}
			r := e.do(req("GET", tc.path, nil, h...))
			switch tc.want {
			case 200:
				if r.StatusCode != 200 || r.json(t)["message"] == "" {
					t.Fatalf("%d %s", r.StatusCode, r.body)
				}
			case 401:
				expectProblem(t, r, 401, "unauthenticated")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
				}
			case 403:
				expectProblem(t, r, 403, "insufficient_role")
			}
		})
	}
}

func TestJWKSHealthReady(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("GET", "/.well-known/jwks.json", nil))
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "public, max-age=300" || len(r.json(t)["keys"].([]any)) != 1 {
		t.Fatalf("jwks: %d %v %s", r.StatusCode, r.Header, r.body)
	}
	r = e.do(req("GET", "/healthz", nil))
	if r.StatusCode != 200 || r.json(t)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.StatusCode, r.body)
	}
	r = e.do(req("GET", "/readyz", nil))
	if r.StatusCode != 200 {
		t.Fatalf("readyz: %d %s", r.StatusCode, r.body)
	}
	m := r.json(t)
	if checks := m["checks"].(map[string]any); m["status"] != "ok" || checks["database"] != "ok" || checks["sessions"] != "ok" {
		t.Fatalf("readyz = %v", m)
	}

	e.sessions.down.Store(true)
	r = e.do(req("GET", "/readyz", nil))
	m = expectProblem(t, r, 503, "not_ready")
	if !strings.Contains(m["detail"].(string), "sessions") || m["checks"].(map[string]any)["sessions"] != "unavailable" ||
		strings.Contains(string(r.body), "10.1.2.3") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz down: %v %s", r.Header, r.body)
	}
}

// TestH54_SessionStoreDownIs503: with the session store down, protected routes (an admin's
// too) and every step that would issue tokens (password login, its second factor, a passkey
// login, refresh) answer 503 with no token, and the service recovers by itself.
func TestH54_SessionStoreDownIs503(t *testing.T) {
	e := newEnv(t)
	e.register("ivy@example.com")
	s := e.login("ivy@example.com")
	e.register("root@example.com", domain.RoleAdmin)
	admin := e.login("root@example.com")
	// A login half done before the outage: the password checked, the second factor due.
	e.register("tom@example.com")
	secret, enrolled := e.enrolTOTP(e.login("tom@example.com").access)
	mfa := expectStatus(t, e.do(req("POST", "/api/auth/login", map[string]any{"email": "tom@example.com", "password": password})), http.StatusOK)
	code, err := otp.Code(secret, enrolled.Add(domain.TOTPPeriod))
	if err != nil {
		t.Fatal(err)
	}
	// A passkey login begun before the outage.
	e.register("pia@example.com")
	cred := e.registerPasskey(e.login("pia@example.com").access)
	begin := expectStatus(t, e.do(req("POST", "/api/auth/passkey/begin", map[string]any{})), http.StatusOK)
	options, _ := json.Marshal(begin["options"])
	assertion, err := cred.Assert(options, testenv.AssertOptions{Origin: passkeyOrigin})
	if err != nil {
		t.Fatal(err)
	}
	e.sessions.down.Store(true)

	for name, r := range map[string]response{
		"protected":     e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)),
		"admin":         e.do(req("GET", "/api/users", nil, bearer(admin.access)...)),
		"login":         e.do(req("POST", "/api/auth/login", map[string]any{"email": "ivy@example.com", "password": password})),
		"second factor": e.do(req("POST", "/api/auth/mfa/verify", map[string]any{"mfa_token": mfa["mfa_token"], "code": code})),
		"passkey login": e.do(req("POST", "/api/auth/passkey/finish", map[string]any{"ceremony": begin["ceremony"], "credential": json.RawMessage(assertion)})),
		"refresh":       e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh})),
		"logout":        e.do(req("POST", "/api/auth/logout", nil, bearer(s.access)...)),
	} {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, r, 503, "store_unavailable")
			if r.Header.Get("Retry-After") == "" || len(r.Cookies()) != 0 {
				t.Fatalf("headers: %v", r.Header)
			}
			for _, leak := range []string{"redis", "10.1.2.3", "refused", "access_token\":\"at."} {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("body leaks %q: %s", leak, r.body)
				}
			}
		})
	}
	// The real error is logged, with the request id.
	if !strings.Contains(e.logs.String(), "10.1.2.3") {
		t.Fatal("the store error was not logged")
	}

	e.sessions.down.Store(false)
	if r := e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)); r.StatusCode != 200 {
		t.Fatalf("after recovery: %d", r.StatusCode)
	}
}

func TestB9_LoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.register("jay@example.com")
	id := e.register("kim@example.com")
	u, _ := e.users.ByID(context.Background(), id)
	u.Disabled = true
	if _, err := e.users.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	var bodies []map[string]any
	for _, in := range []map[string]any{
		{"email": "nobody@example.com", "password": password},
		{"email": "jay@example.com", "password": "wrong password 1"},
		{"email": "kim@example.com", "password": password},
		{"username": "no_such_user", "password": password},
	} {
		r := e.do(req("POST", "/api/auth/login", in))
		m := expectProblem(t, r, 401, "invalid_credentials")
		delete(m, "request_id")
		bodies = append(bodies, m)
		if len(r.Cookies()) != 0 {
			t.Fatal("a failed login set cookies")
		}
	}
	for _, b := range bodies[1:] {
		if len(b) != len(bodies[0]) || b["detail"] != bodies[0]["detail"] || b["title"] != bodies[0]["title"] {
			t.Fatalf("bodies differ: %v vs %v", b, bodies[0])
		}
	}
}

func TestLoginValidation(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct {
		body  string
		field string
		code  string
	}{
		"neither":  {`{"password":"x"}`, "email", "required"},
		"both":     {`{"email":"a@b.co","username":"ab","password":"x"}`, "username", "mutually_exclusive"},
		"no pw":    {`{"email":"a@b.co"}`, "password", "required"},
		"empty pw": {`{"email":"a@b.co","password":""}`, "password", "required"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := expectProblem(t, e.do(req("POST", "/api/auth/login", tc.body)), 422, "validation_failed")
			f := m["errors"].([]any)[0].(map[string]any)
			if f["field"] != tc.field || f["code"] != tc.code {
				t.Fatalf("errors = %v", m["errors"])
			}
		})
	}
}

func TestRegisterValidationAndConflict(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("POST", "/api/auth/register", `{"email":"not-an-email","password":"short","username":"A!"}`))
	m := expectProblem(t, r, 422, "validation_failed")
	got := map[string]string{}
	for _, x := range m["errors"].([]any) {
		f := x.(map[string]any)
		got[f["field"].(string)] = f["code"].(string)
		if f["message"] == "" {
			t.Fatalf("field without message: %v", f)
		}
	}
	want := map[string]string{"email": "invalid_email", "password": "password_too_short", "username": "invalid_username"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("errors = %v, want %v", got, want)
		}
	}
	if m["detail"] != "3 fields are invalid" {
		t.Fatalf("detail = %v", m["detail"])
	}
	expectProblem(t, e.do(req("POST", "/api/auth/register", `{"email":"x@example.com","password":"password"}`)), 422, "validation_failed")

	e.register("taken@example.com")
	expectProblem(t, e.do(req("POST", "/api/auth/register", map[string]any{"email": "TAKEN@example.com ", "password": password})), 409, "email_taken")
}

func TestA6_RegisterIgnoresPrivilegeFields(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("POST", "/api/auth/register", `{"email":"m@example.com","password":"correct horse battery","roles":["admin"],"email_verified":true}`))
	m := expectProblem(t, r, 400, "invalid_body")
	if f := m["errors"].([]any)[0].(map[string]any); f["code"] != "unknown_field" || f["field"] != "roles" {
		t.Fatalf("errors = %v", m["errors"])
	}
	if _, err := e.users.ByEmail(context.Background(), "m@example.com"); err == nil {
		t.Fatal("a user was created")
	}
}

func TestF44_StrictInput(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, body, ctype string
		status            int
		code, field       string
	}{
		{"malformed", `{"email":`, "application/json", 400, "malformed_json", ""},
		{"trailing data", `{"email":"a@b.co","password":"x"} {}`, "application/json", 400, "malformed_json", ""},
		{"duplicate key", `{"email":"a@b.co","email":"c@d.co","password":"x"}`, "application/json", 400, "malformed_json", "email"},
		{"unknown field", `{"email":"a@b.co","password":"x","admin":true}`, "application/json", 400, "invalid_body", "admin"},
		{"wrong case field", `{"EMAIL":"a@b.co","password":"x"}`, "application/json", 400, "invalid_body", "EMAIL"},
		{"wrong type", `{"email":42,"password":"x"}`, "application/json", 400, "invalid_body", "email"},
		{"array", `[]`, "application/json", 400, "invalid_body", ""},
		{"null", `null`, "application/json", 400, "invalid_body", ""},
		{"empty", ``, "application/json", 400, "invalid_body", ""},
		{"invalid utf-8", "{\"email\":\"\xff\",\"password\":\"x\"}", "application/json", 400, "malformed_json", ""},
		{"form body", `email=a@b.co&password=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"text body", `{"email":"a@b.co"}`, "text/plain", 415, "unsupported_media_type", ""},
		{"no content type", `{"email":"a@b.co"}`, "", 415, "unsupported_media_type", ""},
		{"json with charset", `{"email":"a@b.co","password":"x"}`, "application/json; charset=utf-8", 401, "invalid_credentials", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := req("POST", "/api/auth/login", tc.body, "Content-Type", tc.ctype)
			m := expectProblem(t, e.do(r), tc.status, tc.code)
			if tc.field != "" {
				f := m["errors"].([]any)[0].(map[string]any)
				if f["field"] != tc.field || !strings.Contains(m["detail"].(string), tc.field) {
					t.Fatalf("field not named: %s", m)
				}
			}
		})
	}
	t.Run("gzip", func(t *testing.T) {
		r := req("POST", "/api/auth/login", `{"email":"a@b.co","password":"x"}`, "Content-Encoding", "gzip")
		expectProblem(t, e.do(r), 415, "unsupported_media_type")
	})
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	m := expectProblem(t, e.do(req("GET", "/api/nope", nil)), 404, "route_not_found")
	if strings.Contains(m["detail"].(string), "nope") {
		t.Fatalf("detail echoes the path: %v", m)
	}
	r := e.do(req("GET", "/api/auth/login", nil))
	expectProblem(t, r, 405, "method_not_allowed")
	if r.Header.Get("Allow") != "POST" {
		t.Fatalf("Allow = %q", r.Header.Get("Allow"))
	}
	r = e.do(req("DELETE", "/api/users/me", nil))
	expectProblem(t, r, 405, "method_not_allowed")
	if a := r.Header.Get("Allow"); !strings.Contains(a, "GET") || !strings.Contains(a, "PATCH") || strings.Contains(a, "DELETE") {
		t.Fatalf("Allow = %q", a)
	}
	r = e.do(req("PUT", "/api/sessions/abc", `{}`))
	expectProblem(t, r, 405, "method_not_allowed")
	if a := r.Header.Get("Allow"); a != "DELETE" {
		t.Fatalf("Allow = %q", a)
	}
}

func TestD37_TokenInQueryStringIgnored(t *testing.T) {
	e := newEnv(t)
	e.register("q@example.com")
	s := e.login("q@example.com")
	for _, q := range []string{"access_token", "token", "jwt"} {
		r := e.do(req("GET", "/api/users/me?"+q+"="+s.access, nil))
		expectProblem(t, r, 401, "unauthenticated")
	}
	r := e.do(req("POST", "/api/auth/refresh?refresh_token="+s.refresh, nil))
	expectProblem(t, r, 401, "unauthenticated")
}

func TestUnauthorizedChallenges(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("GET", "/api/users/me", nil, "Authorization", "Bearer not-a-token"))
	expectProblem(t, r, 401, "invalid_token")
	if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || !strings.Contains(got, `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
	r = e.do(req("GET", "/api/users/me", nil, "Authorization", "Bearer"))
	expectProblem(t, r, 401, "invalid_token")
	// Another scheme is not a token for this service: no token at all, and the other sources count.
	r = e.do(req("GET", "/api/users/me", nil, "Authorization", "Basic dXNlcjpwYXNz"))
	expectProblem(t, r, 401, "unauthenticated")
	e.register("basil@example.com")
	s := e.login("basil@example.com")
	for name, h := range map[string][]string{
		"x-access-token": {"Authorization", "Basic dXNlcjpwYXNz", "X-Access-Token", s.access},
		"cookie":         {"Authorization", "Basic dXNlcjpwYXNz", "Cookie", cookieHeader(s.cookies...)},
	} {
		if r := e.do(req("GET", "/api/users/me", nil, h...)); r.StatusCode != 200 {
			t.Errorf("Basic with a good %s: %d %s", name, r.StatusCode, r.body)
		}
	}
	// A bad Bearer is not rescued by a good token elsewhere.
	expectProblem(t, e.do(req("GET", "/api/users/me", nil, "Authorization", "Bearer not-a-token", "X-Access-Token", s.access)),
		401, "invalid_token")
	// A 401 from a public route carries no challenge.
	r = e.do(req("POST", "/api/auth/login", map[string]any{"email": "x@example.com", "password": password}))
	if r.Header.Get("WWW-Authenticate") != "" {
		t.Fatal("login 401 carries a Bearer challenge")
	}
}

func TestPanicIs500WithRequestID(t *testing.T) {
	e := newEnv(t)
	e.srv.App().Get("/boom", func(*fiber.Ctx) error { panic("secret internals: db password hunter2") })
	r := e.do(req("GET", "/boom", nil))
	m := expectProblem(t, r, 500, "internal_error")
	if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "goroutine") {
		t.Fatalf("500 leaks internals: %s", r.body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, m["request_id"].(string)) || !strings.Contains(logs, "hunter2") {
		t.Fatalf("panic not logged with its request id: %s", logs)
	}
	// Other errors are 500 with nothing but the id too.
	e.srv.App().Get("/fail", func(*fiber.Ctx) error { return context.DeadlineExceeded })
	expectProblem(t, e.do(req("GET", "/fail", nil)), 503, "store_unavailable")
}

func TestH55_SlowStoreIs503WithinRequestTimeout(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.RequestTimeout = 100 * time.Millisecond })
	e.register("slow@example.com")
	s := e.login("slow@example.com")
	e.sessions.slow.Store(true)
	start := time.Now()
	r := e.do(req("GET", "/api/users/me", nil, bearer(s.access)...))
	expectProblem(t, r, 503, "store_unavailable")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v, want about the request timeout", d)
	}
	if strings.Contains(string(r.body), "deadline") {
		t.Fatalf("body leaks the cause: %s", r.body)
	}
}
