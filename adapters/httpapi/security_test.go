package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
)

func TestE38_CookieAttributes(t *testing.T) {
	cases := []struct {
		name                    string
		secure                  bool
		access, refresh, logged string
	}{
		{"plain", false, "access_token", "refresh_token", "logged_in"},
		{"secure", true, "__Host-access_token", "__Secure-refresh_token", "__Host-logged_in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *httpapi.Config) { c.SecureCookies = tc.secure })
			e.register("c@example.com")
			r := e.do(req("POST", "/api/auth/login", map[string]any{"email": "c@example.com", "password": password}))
			if r.StatusCode != 200 {
				t.Fatalf("login: %d %s", r.StatusCode, r.body)
			}
			raw := strings.Join(r.Header.Values("Set-Cookie"), "\n")
			if strings.Contains(strings.ToLower(raw), "domain=") {
				t.Fatalf("a cookie has a Domain: %s", raw)
			}
			body := r.json(t)
			want := []struct {
				name, value, path string
				httpOnly          bool
				sameSite          http.SameSite
				maxAge            int
			}{
				{tc.access, body["access_token"].(string), "/", true, http.SameSiteLaxMode, 900},
				{tc.refresh, body["refresh_token"].(string), "/api/auth", true, http.SameSiteStrictMode, int(body["refresh_expires_in"].(float64))},
				{tc.logged, "true", "/", false, http.SameSiteLaxMode, int(body["refresh_expires_in"].(float64))},
			}
			for _, w := range want {
				c := findCookie(r.Cookies(), w.name)
				if c == nil {
					t.Fatalf("no %s cookie in %s", w.name, raw)
				}
				if c.Value != w.value || c.Path != w.path || c.HttpOnly != w.httpOnly || c.SameSite != w.sameSite ||
					c.MaxAge != w.maxAge || c.Secure != tc.secure || c.Domain != "" {
					t.Fatalf("%s = %+v, want %+v secure=%v", w.name, c, w, tc.secure)
				}
			}
			if w := want[2].maxAge; w < 7*24*3600-5 || w > 7*24*3600 {
				t.Fatalf("session cookies live %d s, want the idle limit (7 d)", w)
			}

			// The cookie alone authenticates (GET needs no origin).
			ac := findCookie(r.Cookies(), tc.access)
			if r := e.do(req("GET", "/api/users/me", nil, "Cookie", cookieHeader(ac))); r.StatusCode != 200 {
				t.Fatalf("me by cookie: %d %s", r.StatusCode, r.body)
			}
			// The unprefixed name is not read when cookies are Secure.
			if tc.secure {
				r := e.do(req("GET", "/api/users/me", nil, "Cookie", "access_token="+ac.Value))
				expectProblem(t, r, 401, "unauthenticated")
			}

			// E43: logout expires all three with the same attributes and sends Clear-Site-Data.
			r = e.do(req("POST", "/api/auth/logout", nil, "Cookie", cookieHeader(r.Cookies()...), "Origin", allowedOrigin))
			if r.StatusCode != 204 || r.Header.Get("Clear-Site-Data") != `"cookies"` {
				t.Fatalf("logout: %d %v", r.StatusCode, r.Header)
			}
			for _, w := range want {
				c := findCookie(r.Cookies(), w.name)
				if c == nil || c.Value != "" || c.MaxAge >= 0 || c.Path != w.path || c.Secure != tc.secure {
					t.Fatalf("%s not expired: %+v (%v)", w.name, c, r.Header.Values("Set-Cookie"))
				}
			}
			if !strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), "\n"), "Max-Age=0") {
				t.Fatal("no Max-Age=0 on the cleared cookies")
			}
			if r := e.do(req("GET", "/api/users/me", nil, "Cookie", cookieHeader(ac))); r.StatusCode != 401 {
				t.Fatalf("access cookie still works after logout: %d", r.StatusCode)
			}
		})
	}
}

func TestE39_CrossSiteRequestsRefused(t *testing.T) {
	e := newEnv(t)
	e.register("x@example.com")
	s := e.login("x@example.com")
	ac := findCookie(s.cookies, "access_token")
	rc := findCookie(s.cookies, "refresh_token")
	loginBody := map[string]any{"email": "x@example.com", "password": password}

	refused := []struct {
		name string
		r    *http.Request
	}{
		{"patch me, cookie, foreign origin", req("PATCH", "/api/users/me", `{"name":"pwned"}`, "Cookie", cookieHeader(ac), "Origin", foreignOrigin)},
		{"patch me, cookie, browser without origin", req("PATCH", "/api/users/me", `{"name":"pwned"}`, "Cookie", cookieHeader(ac), "Sec-Fetch-Site", "same-site")},
		{"patch me, cookie, null origin", req("PATCH", "/api/users/me", `{"name":"pwned"}`, "Cookie", cookieHeader(ac), "Origin", "null")},
		{"patch me, cookie, foreign referer", req("PATCH", "/api/users/me", `{"name":"pwned"}`, "Cookie", cookieHeader(ac), "Referer", foreignOrigin+"/page")},
		{"logout-all, cookie, cross-site", req("POST", "/api/auth/logout-all", nil, "Cookie", cookieHeader(ac), "Sec-Fetch-Site", "cross-site")},
		{"delete session, cookie, foreign origin", req("DELETE", "/api/sessions/whatever", nil, "Cookie", cookieHeader(ac), "Origin", foreignOrigin)},
		{"refresh, refresh cookie, foreign origin", req("POST", "/api/auth/refresh", nil, "Cookie", cookieHeader(rc), "Origin", foreignOrigin)},
		{"logout, cookies, foreign origin", req("POST", "/api/auth/logout", nil, "Cookie", cookieHeader(ac, rc), "Origin", foreignOrigin)},
		{"login, stale cookie, foreign origin", req("POST", "/api/auth/login", loginBody, "Cookie", "logged_in=true", "Origin", foreignOrigin)},
		{"login, no cookie, cross-site", req("POST", "/api/auth/login", loginBody, "Sec-Fetch-Site", "cross-site")},
		{"login, cross-site, foreign origin", req("POST", "/api/auth/login", loginBody, "Sec-Fetch-Site", "cross-site", "Origin", foreignOrigin)},
		{"register, cross-site", req("POST", "/api/auth/register", map[string]any{"email": "y@example.com", "password": password}, "Sec-Fetch-Site", "cross-site")},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, e.do(tc.r), 403, "cross_site_request")
		})
	}
	// Nothing changed: the session is alive and the name untouched.
	r := e.do(req("GET", "/api/users/me", nil, bearer(s.access)...))
	if r.StatusCode != 200 || r.json(t)["user"].(map[string]any)["name"] == "pwned" {
		t.Fatalf("state changed: %d %s", r.StatusCode, r.body)
	}

	allowed := []struct {
		name string
		r    *http.Request
	}{
		{"patch me, cookie, allowed origin", req("PATCH", "/api/users/me", `{"name":"ok"}`, "Cookie", cookieHeader(ac), "Origin", allowedOrigin)},
		// No Origin, Referer or fetch metadata: not a browser (curl with a cookie jar).
		{"patch me, cookie, no browser metadata", req("PATCH", "/api/users/me", `{"name":"ok"}`, "Cookie", cookieHeader(ac))},
		{"patch me, cookie, public url origin", req("PATCH", "/api/users/me", `{"name":"ok"}`, "Cookie", cookieHeader(ac), "Origin", publicURL)},
		{"patch me, cookie, allowed referer", req("PATCH", "/api/users/me", `{"name":"ok"}`, "Cookie", cookieHeader(ac), "Referer", allowedOrigin+"/settings?x=1")},
		{"patch me, cross-site mark but allowed origin", req("PATCH", "/api/users/me", `{"name":"ok"}`, "Cookie", cookieHeader(ac), "Origin", allowedOrigin, "Sec-Fetch-Site", "cross-site")},
		{"patch me, bearer, no origin (REST client)", req("PATCH", "/api/users/me", `{"name":"ok"}`, bearer(s.access)...)},
		{"login, no cookie, no origin (curl)", req("POST", "/api/auth/login", loginBody)},
		{"login, same-site", req("POST", "/api/auth/login", loginBody, "Sec-Fetch-Site", "same-site", "Origin", allowedOrigin)},
	}
	for _, tc := range allowed {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(tc.r); r.StatusCode != 200 {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
		})
	}
}

func TestE40_NoStateChangeOnGET(t *testing.T) {
	e := newEnv(t)
	e.register("g@example.com")
	s := e.login("g@example.com")
	for _, path := range []string{"/api/auth/logout", "/api/auth/logout-all", "/api/auth/refresh"} {
		r := e.do(req("GET", path, nil, append(bearer(s.access), "Cookie", "refresh_token="+s.refresh)...))
		expectProblem(t, r, 405, "method_not_allowed")
		if len(r.Cookies()) != 0 {
			t.Fatalf("GET %s set cookies", path)
		}
	}
	for _, path := range []string{"/api/users/me", "/api/sessions", "/api/test/user"} {
		if r := e.do(req("GET", path, nil, bearer(s.access)...)); r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, r.StatusCode)
		}
	}
	// The session and its refresh token are untouched.
	if r := e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh})); r.StatusCode != 200 {
		t.Fatalf("refresh after GETs: %d %s", r.StatusCode, r.body)
	}
}

func TestE41_CORS(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("GET", "/api/test/all", nil, "Origin", allowedOrigin))
	if r.Header.Get("Access-Control-Allow-Origin") != allowedOrigin || r.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Fatalf("allowed origin: %v", r.Header)
	}
	for _, origin := range []string{foreignOrigin, "null", allowedOrigin + ".evil.net", "http://app.example.com", ""} {
		r := e.do(req("GET", "/api/test/all", nil, "Origin", origin))
		if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("origin %q got CORS headers: %v", origin, r.Header)
		}
		if !strings.Contains(r.Header.Get("Vary"), "Origin") {
			t.Fatalf("origin %q: no Vary: Origin", origin)
		}
	}
	// Preflight.
	r = e.do(req("OPTIONS", "/api/users/me", nil, "Origin", allowedOrigin, "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "content-type, authorization"))
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != allowedOrigin ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	r = e.do(req("OPTIONS", "/api/users/me", nil, "Origin", foreignOrigin, "Access-Control-Request-Method", "PATCH"))
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("foreign preflight allowed: %v", r.Header)
	}
	// Never "*", on any response.
	for _, r := range []response{r, e.do(req("GET", "/.well-known/jwks.json", nil, "Origin", allowedOrigin))} {
		if r.Header.Get("Access-Control-Allow-Origin") == "*" {
			t.Fatal("wildcard origin")
		}
	}
}

func TestE42_SecurityHeaders(t *testing.T) {
	for _, secure := range []bool{false, true} {
		e := newEnv(t, func(c *httpapi.Config) { c.SecureCookies = secure })
		e.register("h@example.com")
		responses := map[string]response{
			"ok":       e.do(req("GET", "/healthz", nil)),
			"404":      e.do(req("GET", "/nope", nil)),
			"401":      e.do(req("GET", "/api/users/me", nil)),
			"login":    e.do(req("POST", "/api/auth/login", map[string]any{"email": "h@example.com", "password": password})),
			"problem":  e.do(req("POST", "/api/auth/login", `{`)),
			"register": e.do(req("POST", "/api/auth/register", map[string]any{"email": "i@example.com", "password": password})),
		}
		for name, r := range responses {
			h := r.Header
			if h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" ||
				h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" ||
				h.Get("Cross-Origin-Opener-Policy") != "same-origin" || len(h.Get("X-Request-Id")) < 16 {
				t.Fatalf("secure=%v %s: headers %v", secure, name, h)
			}
			hsts := h.Get("Strict-Transport-Security")
			if secure != (hsts == "max-age=63072000; includeSubDomains") {
				t.Fatalf("secure=%v %s: HSTS %q", secure, name, hsts)
			}
		}
		if cc := responses["login"].Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("login Cache-Control = %q", cc)
		}
	}
}

func TestRequestIDNotTakenFromClient(t *testing.T) {
	e := newEnv(t)
	r := e.do(req("GET", "/healthz", nil, "X-Request-Id", "attacker-chosen"))
	if got := r.Header.Get("X-Request-Id"); got == "attacker-chosen" || got == "" {
		t.Fatalf("X-Request-Id = %q", got)
	}
}

// logLines returns the access-log lines.
func logLines(t *testing.T, e *env) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(e.logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestB12_ForwardedForFromUntrustedPeerIgnored(t *testing.T) {
	e := newEnv(t)
	e.do(req("GET", "/healthz", nil, "X-Forwarded-For", "203.0.113.9"))
	if ip := logLines(t, e)[0]["ip"]; ip != "0.0.0.0" {
		t.Fatalf("untrusted X-Forwarded-For was believed: ip=%v", ip)
	}

	// The test connection's peer is 0.0.0.0; trust it as a proxy.
	e = newEnv(t, func(c *httpapi.Config) { c.TrustedProxies = []string{"0.0.0.0/32", "10.0.0.0/8"} })
	e.do(req("GET", "/healthz", nil, "X-Forwarded-For", "198.51.100.7, 203.0.113.9, 10.0.0.2"))
	if ip := logLines(t, e)[0]["ip"]; ip != "203.0.113.9" {
		t.Fatalf("client ip = %v, want the rightmost untrusted hop 203.0.113.9", ip)
	}
}

func TestAccessLogAndA8_NoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	e.register("log@example.com")
	s := e.login("log@example.com")
	r := e.do(req("GET", "/api/users/me?access_token="+s.access, nil, append(bearer(s.access), "Cookie", "refresh_token="+s.refresh)...))
	rid := r.Header.Get("X-Request-Id")
	e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh}))

	var me map[string]any
	for _, l := range logLines(t, e) {
		if l["request_id"] == rid {
			me = l
		}
	}
	if me == nil {
		t.Fatalf("no access-log line for request %s", rid)
	}
	if me["method"] != "GET" || me["route"] != "/api/users/me" || me["path"] != "/api/users/me" ||
		me["status"].(float64) != 200 || me["user_id"] == nil || me["ip"] == nil || me["latency_ms"] == nil {
		t.Fatalf("access log line = %v", me)
	}
	all := e.logs.String()
	for _, secret := range []string{s.access, s.refresh, password, "fake$"} {
		if strings.Contains(all, secret) {
			t.Fatalf("logs contain a secret %q", secret)
		}
	}
}

// TestAccessLogOff: with the access log off (ACCESS_LOG=false) no request writes its line, and
// the answers are what they are with it on: the line's middleware still runs the error handler.
func TestAccessLogOff(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.NoAccessLog = true })
	e.register("quiet@example.com")
	s := e.login("quiet@example.com")
	if r := e.do(req("GET", "/api/users/me", nil, bearer(s.access)...)); r.StatusCode != 200 {
		t.Fatalf("me: %d", r.StatusCode)
	}
	r := e.do(req("GET", "/api/no-such-route", nil))
	if r.StatusCode != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if r := e.do(req("GET", "/api/users/me", nil)); r.StatusCode != 401 {
		t.Fatalf("me without a token: %d", r.StatusCode)
	}
	if lines := logLines(t, e); len(lines) != 0 {
		t.Fatalf("%d access-log lines with the access log off, first %v", len(lines), lines[0])
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*httpapi.Config)
		want   string
	}{
		"wildcard origin": {func(c *httpapi.Config) { c.AllowedOrigins = []string{"*"} }, `"*" is not an origin`},
		"path in origin":  {func(c *httpapi.Config) { c.AllowedOrigins = []string{"app.example.com"} }, "not an origin"},
		"bad proxy":       {func(c *httpapi.Config) { c.TrustedProxies = []string{"not-an-ip"} }, "not an IP or CIDR"},
		"no body limit":   {func(c *httpapi.Config) { c.BodyLimit = 0 }, "must be positive"},
		"no timeout":      {func(c *httpapi.Config) { c.RequestTimeout = 0 }, "must be positive"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig()
			tc.mutate(&cfg)
			_, err := httpapi.NewServer(cfg, httpapi.Deps{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Cookie tossing: the refresh cookie's __Secure- prefix does not stop another site of the parent
// domain from setting one of its name (Domain=, with a longer Path so that the browser sends it
// first). With two, the first could be that site's own session's token: rotating it would sign
// the visitor in to someone else's session and replace theirs. A request with two refresh
// cookies is refused and changes nothing, at POST /api/auth/refresh and at the seed's GET
// /api/auth/refresh; logout ends neither of the two sessions by them.
func TestE38_TwoRefreshCookiesAreRefused(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.SecureCookies = true; c.Compat = httpapi.CompatSeed })
	login := func(email string) response {
		e.register(email)
		r := e.do(req("POST", "/api/auth/login", map[string]any{"email": email, "password": password}))
		if r.StatusCode != 200 {
			t.Fatalf("login %s: %d %s", email, r.StatusCode, r.body)
		}
		return r
	}
	victim, tossed := login("victim@example.com"), login("tosser@example.com")
	const name = "__Secure-refresh_token"
	cookies := cookieHeader(findCookie(tossed.Cookies(), name), findCookie(victim.Cookies(), name))
	r := e.do(req("POST", "/api/auth/refresh", nil, "Cookie", cookies, "Origin", allowedOrigin))
	expectProblem(t, r, 401, "invalid_refresh_token")
	if len(r.Cookies()) != 0 {
		t.Fatalf("a refused refresh set cookies: %v", r.Header.Values("Set-Cookie"))
	}
	r = e.do(req("GET", "/api/auth/refresh", nil, "Cookie", cookies, "Sec-Fetch-Site", "same-origin"))
	expectProblem(t, r, 401, "invalid_refresh_token")
	if r := e.do(req("POST", "/api/auth/logout", nil, "Cookie", cookies, "Origin", allowedOrigin)); r.StatusCode != 204 {
		t.Fatalf("logout with two refresh cookies: %d %s", r.StatusCode, r.body)
	}
	// Neither token was spent nor ended: each still rotates alone, into its own account.
	for who, first := range map[string]response{"victim@example.com": victim, "tosser@example.com": tossed} {
		r := e.do(req("POST", "/api/auth/refresh", nil, "Cookie", cookieHeader(findCookie(first.Cookies(), name)), "Origin", allowedOrigin))
		if r.StatusCode != 200 {
			t.Fatalf("%s's refresh cookie alone: %d %s", who, r.StatusCode, r.body)
		}
		me := e.do(req("GET", "/api/users/me", nil, "Authorization", "Bearer "+r.json(t)["access_token"].(string)))
		if u, _ := me.json(t)["user"].(map[string]any); u["email"] != who {
			t.Fatalf("%s's refresh cookie signed in %s", who, me.body)
		}
	}
	// A body token is unambiguous and still wins over the cookies.
	r = e.do(req("POST", "/api/auth/login", map[string]any{"email": "victim@example.com", "password": password}))
	body := r.json(t)
	r = e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": body["refresh_token"]}, "Cookie", cookies, "Origin", allowedOrigin))
	if r.StatusCode != 200 {
		t.Fatalf("refresh with the token in the body and two cookies: %d %s", r.StatusCode, r.body)
	}
}
