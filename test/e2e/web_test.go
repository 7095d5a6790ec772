package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Cookies, CSRF, CORS, headers and input (SECURITY E38–E43, F44, F45, H57).

// attrs returns the lower-cased attributes of a raw Set-Cookie line (name=value excluded).
func attrs(line string) map[string]string {
	out := map[string]string{}
	parts := strings.Split(line, ";")
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		out[strings.ToLower(k)] = v
	}
	return out
}

func TestE38_CookieAttributes(t *testing.T) {
	t.Parallel()
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, nil)
		api := srv.apiClient().in(t)
		a := api.register(t)
		r := api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusOK)
		checkCookies(t, r, "access_token", "refresh_token", "logged_in", false)
		if r.Header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS sent without secure cookies (plain HTTP)")
		}
	})
	t.Run("secure", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, map[string]string{"PORTCULLIS_SECURE_COOKIES": "true", "PORTCULLIS_PUBLIC_URL": "https://auth.example.test"})
		api := srv.apiClient().in(t)
		a := api.register(t)
		r := api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusOK)
		checkCookies(t, r, "__Host-access_token", "__Secure-refresh_token", "__Host-logged_in", true)
		for _, path := range []string{"/healthz", "/api/nope"} {
			if hsts := api.do("GET", path, nil).Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
				t.Errorf("GET %s: HSTS %q", path, hsts)
			}
		}
		if hsts := r.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("login: HSTS %q", hsts)
		}
		var tk tokens
		r.decode(&tk)
		// the prefixed cookie authenticates; the unprefixed name is not read
		api.do("GET", "/api/users/me", nil, "Cookie", "__Host-access_token="+tk.AccessToken).expect(http.StatusOK)
		api.do("GET", "/api/users/me", nil, "Cookie", "access_token="+tk.AccessToken).expect(http.StatusUnauthorized)
		// logout clears the prefixed cookies with the attributes the prefixes require
		lr := api.do("POST", "/api/auth/logout", nil, "Cookie", "__Host-access_token="+tk.AccessToken, "Origin", "https://auth.example.test").
			expect(http.StatusNoContent)
		for _, name := range []string{"__Host-access_token", "__Secure-refresh_token", "__Host-logged_in"} {
			at := attrs(lr.rawSetCookie(name))
			if _, ok := at["secure"]; !ok || at["max-age"] != "0" {
				t.Errorf("logout clears %s as %q", name, lr.rawSetCookie(name))
			}
		}
	})
}

func checkCookies(t *testing.T, r *resp, access, refresh, loggedIn string, secure bool) {
	t.Helper()
	var tk tokens
	r.decode(&tk)
	want := map[string]struct {
		value, path, sameSite string
		httpOnly              bool
		maxAge                func(string) bool
	}{
		access:   {tk.AccessToken, "/", "lax", true, func(v string) bool { return v == "900" }},
		refresh:  {tk.RefreshToken, "/api/auth", "strict", true, func(v string) bool { return v != "" && v != "0" && !strings.HasPrefix(v, "-") }},
		loggedIn: {"true", "/", "lax", false, func(v string) bool { return v != "" && v != "0" && !strings.HasPrefix(v, "-") }},
	}
	got := r.setCookies()
	for name, w := range want {
		ck, line := got[name], r.rawSetCookie(name)
		if ck == nil {
			t.Errorf("no %s cookie in %v", name, r.Header.Values("Set-Cookie"))
			continue
		}
		at := attrs(line)
		_, httpOnly := at["httponly"]
		_, isSecure := at["secure"]
		_, hasDomain := at["domain"]
		if ck.Value != w.value || at["path"] != w.path || strings.ToLower(at["samesite"]) != w.sameSite ||
			httpOnly != w.httpOnly || isSecure != secure || hasDomain || !w.maxAge(at["max-age"]) {
			t.Errorf("cookie %s: %q", name, line)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d cookies set, want 3: %v", len(got), r.Header.Values("Set-Cookie"))
	}
}

func TestE39_CrossSite(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	browser := srv.client().in(t)
	browser.login(t, a)
	loginBody := map[string]string{"email": a.Email, "password": a.Password}
	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"foreign Origin, logout", "POST", "/api/auth/logout", nil, []string{"Origin", evilOrigin}},
		{"foreign Origin, logout-all", "POST", "/api/auth/logout-all", nil, []string{"Origin", evilOrigin}},
		{"foreign Origin, refresh", "POST", "/api/auth/refresh", nil, []string{"Origin", evilOrigin}},
		{"foreign Origin, login", "POST", "/api/auth/login", loginBody, []string{"Origin", evilOrigin}},
		{"foreign Origin, PATCH me", "PATCH", "/api/users/me", map[string]string{"name": "pwned"}, []string{"Origin", evilOrigin}},
		{"foreign Origin, change password", "PUT", "/api/users/me/password", map[string]string{"current_password": a.Password, "new_password": "pwned pwned pwned"}, []string{"Origin", evilOrigin}},
		{"null Origin", "POST", "/api/auth/logout", nil, []string{"Origin", "null"}},
		{"foreign Referer", "POST", "/api/auth/logout", nil, []string{"Origin", "", "Referer", evilOrigin + "/page"}},
		{"Sec-Fetch-Site cross-site", "POST", "/api/auth/logout", nil, []string{"Origin", "", "Sec-Fetch-Site", "cross-site"}},
		{"Sec-Fetch-Site cross-site, foreign Origin", "POST", "/api/auth/logout-all", nil, []string{"Origin", evilOrigin, "Sec-Fetch-Site", "cross-site"}},
		{"look-alike origin", "POST", "/api/auth/logout", nil, []string{"Origin", testOrigin + ".evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser.in(t).do(tc.method, tc.path, tc.body, tc.headers...).expectProblem(http.StatusForbidden, "cross_site_request")
		})
	}
	// nothing happened: the session lives, the name and password are unchanged
	var me struct {
		User user `json:"user"`
	}
	browser.do("GET", "/api/users/me", nil).expect(http.StatusOK).decode(&me)
	if me.User.Name == "pwned" {
		t.Error("a cross-site PATCH changed the name")
	}
	// A browser-less login marked cross-site by the browser is refused too (login CSRF).
	api.do("POST", "/api/auth/login", loginBody, "Sec-Fetch-Site", "cross-site").expectProblem(http.StatusForbidden, "cross_site_request")
	// From the allowed origin (also by Referer) the same requests pass.
	browser.do("POST", "/api/auth/refresh", nil, "Origin", "", "Referer", testOrigin+"/app").expect(http.StatusOK)
	browser.do("POST", "/api/auth/refresh", nil, "Sec-Fetch-Site", "same-site").expect(http.StatusOK)
	browser.do("POST", "/api/auth/logout", nil).expect(http.StatusNoContent)
}

func TestE40_NoStateChangeOnGet(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	browser := srv.client().in(t)
	tk := browser.login(t, a)
	for _, path := range []string{"/api/auth/logout", "/api/auth/logout-all", "/api/auth/refresh", "/api/auth/login", "/api/auth/register"} {
		browser.do("GET", path, nil).expectProblem(http.StatusMethodNotAllowed, "method_not_allowed")
		browser.do("HEAD", path, nil).expect(http.StatusMethodNotAllowed)
	}
	browser.do("GET", "/api/sessions/"+parseJWT(t, tk.AccessToken).Claims.Sid, nil, bearer(tk.AccessToken)...).expect(http.StatusMethodNotAllowed)
	// the session is alive and its refresh token was not rotated by any GET
	browser.do("GET", "/api/users/me", nil).expect(http.StatusOK)
	var r1 tokens
	api.refresh(tk.RefreshToken).expect(http.StatusOK).decode(&r1)
	var r2 tokens
	api.refresh(r1.RefreshToken).expect(http.StatusOK).decode(&r2) // tk was the current token, r1 its only successor
}

func TestE41_CORS(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	preflight := func(origin string) *resp {
		return api.do("OPTIONS", "/api/auth/login", nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type")
	}
	r := preflight(testOrigin)
	if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
		t.Fatalf("preflight from the allowed origin: %d", r.Status)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != testOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(r.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight from the allowed origin: %v", r.Header)
	}
	for _, origin := range []string{evilOrigin, "null", testOrigin + ".evil.example", "http://app.example.test"} {
		r := preflight(origin)
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" ||
			r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight from %s allowed: %v", origin, r.Header)
		}
		g := api.do("GET", "/api/test/all", nil, "Origin", origin)
		if g.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET from %s: Access-Control-Allow-Origin %q", origin, g.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	for _, origin := range []string{testOrigin, evilOrigin, ""} {
		g := api.do("GET", "/api/test/all", nil, "Origin", origin)
		if g.Header.Get("Access-Control-Allow-Origin") == "*" {
			t.Error("Access-Control-Allow-Origin: *")
		}
		if !strings.Contains(strings.Join(g.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("GET with Origin %q: no Vary: Origin (%v)", origin, g.Header.Values("Vary"))
		}
	}
	g := api.do("GET", "/api/test/all", nil, "Origin", testOrigin)
	if g.Header.Get("Access-Control-Allow-Origin") != testOrigin || g.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("GET from the allowed origin: %v", g.Header)
	}
}

func TestE42_SecurityHeaders(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	login := api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusOK)
	var tk tokens
	login.decode(&tk)
	refresh := api.refresh(tk.RefreshToken).expect(http.StatusOK)
	responses := map[string]*resp{
		"healthz": api.do("GET", "/healthz", nil).expect(http.StatusOK),
		"404":     api.do("GET", "/nope", nil).expect(http.StatusNotFound),
		"401":     api.do("GET", "/api/users/me", nil).expect(http.StatusUnauthorized),
		"422":     api.do("POST", "/api/auth/register", map[string]string{"email": "x", "password": "y"}).expect(http.StatusUnprocessableEntity),
		"413":     api.do("POST", "/api/auth/register", strings.Repeat(" ", 20<<10)).expect(http.StatusRequestEntityTooLarge),
		"login":   login,
		"refresh": refresh,
		"me":      api.do("GET", "/api/users/me", nil, bearer(tk.AccessToken)...).expect(http.StatusOK),
		"jwks":    api.do("GET", "/.well-known/jwks.json", nil).expect(http.StatusOK),
	}
	for name, r := range responses {
		h := r.Header
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", name, h.Get("X-Content-Type-Options"))
		}
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", name, h.Get("Content-Security-Policy"))
		}
		if h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: no Referrer-Policy", name)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", name)
		}
	}
	for _, name := range []string{"login", "refresh", "me", "401"} {
		if !strings.Contains(responses[name].Header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q, want no-store", name, responses[name].Header.Get("Cache-Control"))
		}
	}
}

func TestE43_LogoutClearsCookies(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	for _, tc := range []struct {
		name string
		end  func(b *client, tk tokens) *resp
	}{
		{"logout", func(b *client, tk tokens) *resp { return b.do("POST", "/api/auth/logout", nil) }},
		{"logout-all", func(b *client, tk tokens) *resp { return b.do("POST", "/api/auth/logout-all", nil) }},
		{"delete the current session", func(b *client, tk tokens) *resp {
			return b.do("DELETE", "/api/sessions/"+parseJWT(b.t, tk.AccessToken).Claims.Sid, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			browser := srv.client().in(t)
			tk := browser.login(t, a)
			r := tc.end(browser, tk).expect(http.StatusNoContent)
			if got := r.Header.Get("Clear-Site-Data"); got != `"cookies"` {
				t.Errorf("Clear-Site-Data %q", got)
			}
			for name, path := range map[string]string{"access_token": "/", "refresh_token": "/api/auth", "logged_in": "/"} {
				line := r.rawSetCookie(name)
				at := attrs(line)
				if line == "" || at["max-age"] != "0" || at["path"] != path || !strings.HasPrefix(line, name+"=;") {
					t.Errorf("%s cleared as %q", name, line)
				}
			}
			if browser.cookie("/", "access_token") != "" || browser.cookie("/api/auth", "refresh_token") != "" || browser.cookie("/", "logged_in") != "" {
				t.Error("cookies left in the jar")
			}
			if api.in(t).meStatus(tk.AccessToken) != http.StatusUnauthorized {
				t.Error("the session survived")
			}
		})
	}
}

func TestF44_BadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	a := api.register(t)
	tk := api.login(t, a)
	auth := bearer(tk.AccessToken)
	endpoints := []struct {
		method, path, valid string
		headers             []string
	}{
		{"POST", "/api/auth/register", `{"email":"f44@example.com","password":"` + goodPassword + `"}`, nil},
		{"POST", "/api/auth/login", `{"email":"f44@example.com","password":"` + goodPassword + `"}`, nil},
		{"POST", "/api/auth/refresh", `{"refresh_token":"x.y"}`, nil},
		{"POST", "/api/auth/logout", `{"refresh_token":"x.y"}`, nil},
		{"PATCH", "/api/users/me", `{"name":"F"}`, auth},
		{"PUT", "/api/users/me/password", `{"current_password":"a","new_password":"b"}`, auth},
	}
	for _, e := range endpoints {
		t.Run(e.method+" "+e.path, func(t *testing.T) {
			api := api.in(t)
			inner := e.valid[1 : len(e.valid)-1]
			firstKey, _, _ := strings.Cut(inner, ",")
			cases := []struct {
				body, contentType string
				status            int
				code              string
			}{
				{"{" + inner + `,"unexpected":1}`, "application/json", 400, "invalid_body"},
				{"{" + inner + "," + firstKey + "}", "application/json", 400, "malformed_json"},
				{`{"` + strings.Split(firstKey, `"`)[1] + `":["not","a","string"]}`, "application/json", 400, "invalid_body"},
				{`{"` + strings.Split(firstKey, `"`)[1] + `":{}}`, "application/json", 400, "invalid_body"},
				{"{" + inner, "application/json", 400, "malformed_json"},
				{`{"Email` + inner[6:] + "}", "application/json", 400, "invalid_body"}, // names are case-sensitive
				{"{" + inner + "}", "text/plain", 415, "unsupported_media_type"},
				{"{" + inner + "}", "application/json; charset=latin1", 415, "unsupported_media_type"},
				{"{" + inner + `,"pad":"` + strings.Repeat("x", 17<<10) + `"}`, "application/json", 413, "body_too_large"},
			}
			for _, c := range cases {
				h := append([]string{"Content-Type", c.contentType}, e.headers...)
				r := api.do(e.method, e.path, c.body, h...)
				if r.Status != c.status {
					t.Errorf("body %q (%s): status %d, want %d: %s", truncate(c.body, 60), c.contentType, r.Status, c.status, truncate(string(r.Body), 200))
					continue
				}
				r.expectProblem(c.status, c.code)
			}
		})
	}
	// nothing above changed anything
	var me struct {
		User user `json:"user"`
	}
	api.do("GET", "/api/users/me", nil, auth...).expect(http.StatusOK).decode(&me)
	if me.User.Name != a.User.Name {
		t.Errorf("name changed to %q", me.User.Name)
	}
	api.login(t, a)
}

func TestF45_EmailNormalisedUnique(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	local := "Victim-" + randHex(3)
	r := api.do("POST", "/api/auth/register", map[string]string{"email": local + "@X.com", "password": goodPassword}).expect(http.StatusCreated)
	var out struct {
		User user `json:"user"`
	}
	r.decode(&out)
	canonical := strings.ToLower(local) + "@x.com"
	if out.User.Email != canonical {
		t.Errorf("stored email %q, want %q", out.User.Email, canonical)
	}
	for _, variant := range []string{" " + canonical + " ", strings.ToUpper(local) + "@X.COM", "\t" + local + "@x.Com\n"} {
		api.do("POST", "/api/auth/register", map[string]string{"email": variant, "password": goodPassword}).expectProblem(http.StatusConflict, "email_taken")
	}
	tk := api.loginWith(t, map[string]string{"email": "  " + strings.ToUpper(canonical) + " ", "password": goodPassword})
	if tk.User.ID != out.User.ID {
		t.Error("a case variant logged in to another user")
	}
}

// An e-mail address that differs from an existing one only by Unicode compatibility forms
// (fullwidth letters) or the domain's IDNA spelling is not a second account (409, and it logs in
// to the first); invisible characters (zero-width, U+0085, bidi overrides) and look-alike
// letters from another script are a 422 that says why, over HTTP as in the use cases.
func TestF45_LookAlikeEmailIsNotASecondAccount(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	local := "victim" + randHex(3)
	var out struct {
		User user `json:"user"`
	}
	api.do("POST", "/api/auth/register", map[string]string{"email": local + "@bücher.example", "password": goodPassword}).
		expect(http.StatusCreated).decode(&out)
	wide := ""
	for _, r := range strings.ToUpper(local) {
		wide += string(r - 0x21 + 0xff01) // the fullwidth form of an ASCII letter or digit
	}
	for _, variant := range []string{wide + "@bücher.example", local + "＠ＢÜＣＨＥＲ．example", local + "@xn--bcher-kva.example"} {
		api.do("POST", "/api/auth/register", map[string]string{"email": variant, "password": goodPassword}).expectProblem(http.StatusConflict, "email_taken")
		if tk := api.loginWith(t, map[string]string{"email": variant, "password": goodPassword}); tk.User.ID != out.User.ID {
			t.Errorf("%q logged in to another user", variant)
		}
	}
	for name, email := range map[string]string{
		"zero-width": "vic\u200b" + local + "@example.com", "NEL": local + "\u0085@example.com",
		"bidi override": local + "@exam\u202eelpm.com", "Cyrillic a": "p\u0430ypal" + local + "@example.com",
	} {
		p := api.do("POST", "/api/auth/register", map[string]string{"email": email, "password": goodPassword}).
			expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		if p.fieldCode("email") != "invalid_email" {
			t.Errorf("%s: errors %+v, want invalid_email", name, p.Errors)
		}
	}
}

// An address whose local part or domain label is written wholly in Cyrillic with letters that
// look like Latin ones (the whole-script spelling of a taken "apple…@scope.example") is a 422 that
// says why, not a second account: registering it again is refused the same way (never a 409,
// so nothing was stored) and it does not log in.
func TestF45_WholeScriptLookAlikeEmailIsRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	digits := strings.Map(func(r rune) rune {
		if r >= 'a' {
			return r - 'a' + '0'
		}
		return r
	}, randHex(4))
	local := "apple" + digits
	api.do("POST", "/api/auth/register", map[string]string{"email": local + "@scope.example", "password": goodPassword}).
		expect(http.StatusCreated)
	cyrillic := "\u0430\u0440\u0440\u04cf\u0435" + digits // а р р ӏ е: Cyrillic letters that read "apple"
	for _, email := range []string{cyrillic + "@scope.example", local + "@\u0455\u0441\u043e\u0440\u0435.example"} {
		for range 2 {
			p := api.do("POST", "/api/auth/register", map[string]string{"email": email, "password": goodPassword}).
				expectProblem(http.StatusUnprocessableEntity, "validation_failed")
			if p.fieldCode("email") != "invalid_email" || len(p.Errors) != 1 || !strings.Contains(p.Errors[0].Message, "look like Latin") {
				t.Errorf("%q: errors %+v, want invalid_email saying it looks like Latin", email, p.Errors)
			}
		}
		r, err := api.try("POST", "/api/auth/login", map[string]string{"email": email, "password": goodPassword})
		if err != nil || r.Status == http.StatusOK {
			t.Errorf("%q logged in (%v)", email, err)
		}
	}
	api.loginWith(t, map[string]string{"email": local + "@scope.example", "password": goodPassword})
}

func TestH57_ConcurrentRegistration(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	local := "race-" + randHex(4)
	statuses := make([]int, 20)
	codes := make([]string, 20)
	parallelRun(20, func(i int) {
		email := local + "@example.com"
		if i%2 == 1 {
			email = " " + strings.ToUpper(local) + "@Example.COM"
		}
		r, err := api.try("POST", "/api/auth/register", map[string]string{"email": email, "password": goodPassword})
		if err != nil {
			statuses[i] = -1
			return
		}
		statuses[i] = r.Status
		if r.Status >= 400 {
			var p problem
			_ = jsonUnmarshal(r.Body, &p)
			codes[i] = p.Code
		}
	})
	created, conflicts := 0, 0
	for i, s := range statuses {
		switch {
		case s == http.StatusCreated:
			created++
		case s == http.StatusConflict && codes[i] == "email_taken":
			conflicts++
		}
	}
	if created != 1 || conflicts != 19 {
		t.Fatalf("statuses %v codes %v: want exactly one 201 and nineteen 409 conflict", statuses, codes)
	}
	api.login(t, account{Email: local + "@example.com", Password: goodPassword})
}
