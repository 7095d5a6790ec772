package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The browser tests drive a headless Chromium (test/testenv/browser.go) against a real
// Portcullis. Every page is served by the test on its own loopback port, so it is its own
// origin: 127.0.0.1:<port> for each, which makes them one site with Portcullis (SameSite
// cookies flow, as between app.example.com and auth.example.com) while CORS and the origin
// check still see different origins.

// pageServer serves the browser tests' pages from testdata/browser on a fresh loopback port:
// "/" is the file page, "/framed" a page that allows framing (a control for the framing
// check). It returns the server's origin.
func pageServer(t *testing.T, page string) string {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "browser", page))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case "/":
			_, _ = w.Write(body)
		case "/framed":
			_, _ = w.Write([]byte(`<!doctype html><p id="framed">A frame this site allows.</p>`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// barrierProxy is a reverse proxy in front of a Portcullis. Armed with hold, it keeps the next
// n requests to a path waiting until all n have arrived and then forwards them together, so
// that a test can make a browser's concurrent requests really concurrent at the server (each
// carries the cookies the browser held before any answer came back).
type barrierProxy struct {
	URL string

	mu      sync.Mutex
	path    string
	want    int
	arrived int
	release chan struct{}
}

func newBarrierProxy(t *testing.T, target string) *barrierProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &barrierProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ch := p.arrive(r); ch != nil {
			select {
			case <-ch:
			case <-time.After(testenv.BrowserStepTimeout):
				http.Error(w, "barrier: the other requests never came", http.StatusGatewayTimeout)
				return
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// hold arms the barrier for the next n requests to path.
func (p *barrierProxy) hold(path string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.path, p.want, p.arrived, p.release = path, n, 0, make(chan struct{})
}

// held reports how many requests the last barrier gathered.
func (p *barrierProxy) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.arrived
}

// arrive counts r against an armed barrier and returns the channel it must wait on, or nil.
func (p *barrierProxy) arrive(r *http.Request) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.release == nil || r.URL.Path != p.path || r.Method == http.MethodOptions || p.arrived >= p.want {
		return nil
	}
	p.arrived++
	ch := p.release
	if p.arrived == p.want {
		close(ch)
	}
	return ch
}

// accessLine is one access-log line of a server.
type accessLine struct {
	Msg    string `json:"msg"`
	Method string `json:"method"`
	Route  string `json:"route"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// requests returns the access-log lines of s whose path starts with prefix.
func (s *server) requests(prefix string) []accessLine {
	var out []accessLine
	sc := bufio.NewScanner(strings.NewReader(s.Logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l accessLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "request" && strings.HasPrefix(l.Path, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// cookieJar returns the browser's cookies for u by name.
func cookieJar(t *testing.T, tab *testenv.Tab, u string) map[string]*network.Cookie {
	t.Helper()
	res := testenv.Run(tab, func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
		return &r, err
	})
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		out[c.Name] = c
	}
	return out
}

// framedFrame returns the frame of tab's page that was to show prefix: from the page's frame
// tree, or, for a frame of another site (which Chromium runs as a target of its own), from that
// target's frame tree.
func framedFrame(t *testing.T, tab *testenv.Tab, prefix string) *cdp.Frame {
	t.Helper()
	frameTree := func(ctx context.Context, tg *chromedp.Target) (*page.FrameTree, error) {
		r, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		return r.FrameTree, err
	}
	shows := func(f *cdp.Frame) bool {
		return strings.HasPrefix(f.URL, prefix) || strings.HasPrefix(f.UnreachableURL, prefix)
	}
	for _, child := range testenv.Run(tab, frameTree).ChildFrames {
		if shows(child.Frame) {
			return child.Frame
		}
	}
	infos, err := chromedp.Targets(tab.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Type == "iframe" && strings.HasPrefix(in.URL, prefix) {
			ctx, cancel := chromedp.NewContext(tab.Context(), chromedp.WithTargetID(in.TargetID), chromedp.WithDetachOnCancel())
			defer cancel()
			tctx, tcancel := context.WithTimeout(ctx, testenv.BrowserStepTimeout)
			defer tcancel()
			tree, err := chromedp.Run(tctx, frameTree)
			if err != nil {
				t.Fatalf("frame target %s: %v", in.URL, err)
			}
			return tree.Frame
		}
	}
	t.Fatalf("no frame for %s in the page", prefix)
	return nil
}

// TestBrowserSPA runs a single-page app from another origin against Portcullis in Chromium:
// register, sign in with cookies, the profile, an access token expiring and the app refreshing
// it, listing and revoking sessions, two tabs refreshing at once, a hostile origin, and sign
// out. Screenshots of each stage go to the test's artifact directory.
func TestBrowserSPA(t *testing.T) {
	const accessTTL = 3 * time.Second
	spa := pageServer(t, "spa.html")
	evil := pageServer(t, "evil.html")
	s := startServer(t, map[string]string{
		"PORTCULLIS_ALLOWED_ORIGINS": spa,
		"PORTCULLIS_ACCESS_TTL":      accessTTL.String(),
		"PORTCULLIS_LEEWAY":          "0s",
		"PORTCULLIS_LOG_LEVEL":       "info",
	})
	api := newBarrierProxy(t, s.URL)
	b := testenv.NewBrowser(t)
	tab := b.Tab(t)
	spaURL := spa + "/?api=" + url.QueryEscape(api.URL)
	email := "spa-" + randHex(4) + "@example.com"

	tab.Do(chromedp.Navigate(spaURL))
	tab.WaitFor(`window.app && app.ready`)
	tab.Screenshot("spa-1-signed-out")

	// Register and sign in through the forms, as a person would.
	tab.Do(
		chromedp.SendKeys(chromedp.ID("reg-email"), email),
		chromedp.SendKeys(chromedp.ID("reg-name"), "Ada Browser"),
		chromedp.SendKeys(chromedp.ID("reg-password"), goodPassword),
		chromedp.Click(chromedp.ID("register")),
	)
	tab.WaitText("message", "Account created")
	tab.Do(chromedp.SendKeys(chromedp.ID("login-password"), goodPassword), chromedp.Click(chromedp.ID("login")))
	if got := tab.WaitText("status", "Signed in as"); got != "Signed in as "+email {
		t.Fatalf("status after sign-in: %q", got)
	}
	if roles := testenv.Run(tab, chromedp.Text(chromedp.ID("me-roles"))); roles != "user" {
		t.Errorf("roles shown: %q, want user", roles)
	}
	tab.Screenshot("spa-2-signed-in")

	t.Run("HttpOnly cookies are invisible to scripts, logged_in is visible", func(t *testing.T) {
		tab := b.Tab(t)
		visible := testenv.Eval[string](tab, `document.cookie`)
		if !strings.Contains(visible, "logged_in=true") || strings.Contains(visible, "access_token") || strings.Contains(visible, "refresh_token") {
			t.Errorf("document.cookie = %q; want logged_in only", visible)
		}
		jar := cookieJar(t, tab, api.URL+"/api/auth/refresh")
		for name, httpOnly := range map[string]bool{"access_token": true, "refresh_token": true, "logged_in": false} {
			c := jar[name]
			if c == nil {
				t.Errorf("the browser holds no %s cookie (it has %v)", name, keys(jar))
				continue
			}
			if c.HTTPOnly != httpOnly {
				t.Errorf("%s: HttpOnly = %v, want %v", name, c.HTTPOnly, httpOnly)
			}
		}
		t.Logf("document.cookie = %q; the browser's jar holds %v", visible, keys(jar))
	})

	t.Run("an expired access token is refreshed by the app", func(t *testing.T) {
		tab := b.Tab(t)
		time.Sleep(accessTTL + 500*time.Millisecond) // let the access token and its cookie expire
		tab.Do(chromedp.Click(chromedp.ID("reload-me")))
		tab.WaitText("message", "Profile loaded")
		if n := testenv.Eval[int](tab, `app.refreshes`); n != 1 {
			t.Errorf("refreshes = %d, want 1", n)
		}
		refreshed := s.requests("/api/auth/refresh")
		if len(refreshed) != 1 || refreshed[0].Status != http.StatusOK {
			t.Errorf("refresh requests at the server: %+v", refreshed)
		}
		tab.Screenshot("spa-3-after-refresh")
	})

	t.Run("sessions are listed and another one is revoked", func(t *testing.T) {
		tab := b.Tab(t)
		other := s.apiClient()
		other.t = t
		tk := other.loginWith(t, map[string]string{"email": email, "password": goodPassword})
		tab.Do(chromedp.Click(chromedp.ID("load-sessions")))
		tab.WaitText("message", "2 active session(s)")
		tab.Screenshot("spa-4-two-sessions")
		tab.Do(chromedp.Click(chromedp.CSS("#sessions button.revoke")))
		tab.WaitText("message", "1 active session(s)")
		if rows := testenv.Eval[int](tab, `document.querySelectorAll("#sessions tr").length`); rows != 1 {
			t.Errorf("%d sessions listed after revoking, want 1", rows)
		}
		if st := other.meStatus(tk.AccessToken); st != http.StatusUnauthorized {
			t.Errorf("the revoked session's access token: %d, want 401", st)
		}
	})

	t.Run("two tabs refreshing at once both stay signed in", func(t *testing.T) {
		tab := b.Tab(t)
		second := b.NewTab(t)
		second.Do(chromedp.Navigate(spaURL))
		second.WaitText("status", "Signed in as "+email) // the logged_in cookie told it
		time.Sleep(accessTTL + 500*time.Millisecond)
		api.hold("/api/auth/refresh", 2)
		var wg sync.WaitGroup
		ok := make([]bool, 2)
		for i, tb := range []*testenv.Tab{tab, second} {
			wg.Go(func() { ok[i] = testenv.Eval[bool](tb, `app.loadMe()`) })
		}
		wg.Wait()
		if api.held() != 2 {
			t.Fatalf("the barrier gathered %d refreshes, want 2", api.held())
		}
		type outcome struct {
			Status      int    `json:"status"`
			RefreshTail string `json:"refreshTail"`
		}
		a, c := testenv.Eval[outcome](tab, `app.lastRefresh`), testenv.Eval[outcome](second, `app.lastRefresh`)
		if !ok[0] || !ok[1] || a.Status != 200 || c.Status != 200 {
			t.Fatalf("after refreshing at once: signed in %v, refreshes %+v and %+v", ok, a, c)
		}
		if a.RefreshTail != c.RefreshTail {
			t.Errorf("the two tabs got different refresh tokens (…%s, …%s); the grace rule returns the same successor", a.RefreshTail, c.RefreshTail)
		}
		t.Logf("both tabs refreshed at once and got the refresh token …%s", a.RefreshTail)
		// The session survived: both tabs keep working, and the next refresh rotates again.
		for _, tb := range []*testenv.Tab{tab, second} {
			if !testenv.Eval[bool](tb, `app.loadMe()`) || !testenv.Eval[bool](tb, `app.refresh()`) {
				t.Fatalf("a tab lost its session after the concurrent refresh")
			}
		}
		second.Screenshot("spa-5-second-tab")
	})

	t.Run("a 401 that is not about the token is answered, not refreshed", func(t *testing.T) {
		tab := b.Tab(t)
		type answer struct {
			Status    int    `json:"status"`
			Code      string `json:"code"`
			Refreshes int    `json:"refreshes"`
		}
		// A refresh first, so the access token has its whole lifetime for the call that follows.
		got := testenv.Eval[answer](tab, `(async () => {
			await app.refresh();
			const before = app.refreshes;
			const r = await app.call("PUT", "/api/users/me/password",
				{ current_password: "not the password", new_password: "another long passphrase" });
			return { status: r.status, code: (await r.json()).code, refreshes: app.refreshes - before };
		})()`)
		if got.Status != http.StatusUnauthorized || got.Code != "invalid_credentials" || got.Refreshes != 0 {
			t.Fatalf("a wrong current password through the app: %+v; want 401 invalid_credentials and no refresh", got)
		}
	})

	// Two hostile pages: one on the same site as Portcullis but another origin (the cookies go
	// with its requests, so only Portcullis's own checks stop them) and one on another site.
	for _, h := range []struct{ name, origin, shot string }{
		{"same site, another origin", evil, "spa-6-hostile-origin"},
		{"another site", strings.Replace(evil, "127.0.0.1", "evil.test", 1), "spa-6b-hostile-site"},
	} {
		t.Run("a page on "+h.name+" can neither read nor write nor frame", func(t *testing.T) {
			tab := b.Tab(t)
			hostile := b.NewTab(t)
			hostile.Do(chromedp.Navigate(h.origin + "/?api=" + url.QueryEscape(api.URL)))
			hostile.WaitFor(`window.evil`)
			before := len(s.requests("/api/auth/logout"))
			if got := testenv.Eval[string](hostile, `evil.readMe()`); !strings.HasPrefix(got, "readMe: blocked") {
				t.Errorf("credentialed read from a foreign origin: %s", got)
			} else {
				t.Logf("hostile page: %s", got)
			}
			// Simple no-cors POSTs reach the server with the cookies: the origin check refuses them
			// (and Cross-Origin-Resource-Policy keeps even the opaque answer from the page).
			for _, path := range []string{"/api/auth/logout", "/api/auth/logout-all"} {
				got := testenv.Eval[string](hostile, `evil.post(`+jsString(path)+`)`)
				t.Logf("hostile page: %s", got)
			}
			writes := s.requests("/api/auth/logout")[before:]
			if len(writes) != 2 {
				t.Fatalf("server saw %d logout writes from the hostile page, want 2: %+v", len(writes), writes)
			}
			for _, w := range writes {
				if w.Status != http.StatusForbidden {
					t.Errorf("%s %s from a foreign origin: %d, want 403", w.Method, w.Path, w.Status)
				}
			}
			// A DELETE needs a preflight, which a foreign origin does not pass: it is never sent.
			sid := testenv.Eval[string](tab, `app.call("GET", "/api/sessions").then(r => r.json()).then(b => b.sessions[0].id)`)
			if got := testenv.Eval[string](hostile, `evil.del("/api/sessions/`+sid+`")`); !strings.Contains(got, "blocked") {
				t.Errorf("DELETE from a foreign origin: %s", got)
			} else {
				t.Logf("hostile page: %s", got)
			}
			for _, l := range s.requests("/api/sessions/") {
				if l.Method == http.MethodDelete && l.Path == "/api/sessions/"+sid {
					t.Errorf("the DELETE reached the server: %+v", l)
				}
			}
			// Framing Portcullis is refused; the page's own frame (the control) loads.
			hostile.WaitFor(`document.getElementById("framed-own").contentDocument?.getElementById("framed")`)
			hostile.Screenshot(h.shot)
			// The control: the page's own frame is found the same way and did load.
			if own := framedFrame(t, hostile, h.origin+"/framed"); own.UnreachableURL != "" || !strings.HasPrefix(own.URL, h.origin) {
				t.Errorf("the control frame: url %s, unreachable %s", own.URL, own.UnreachableURL)
			}
			frame := framedFrame(t, hostile, api.URL)
			if frame.UnreachableURL == "" {
				t.Errorf("Portcullis loaded in a frame of a foreign page: %s", frame.URL)
			} else {
				t.Logf("framed Portcullis: url %s, unreachable %s", frame.URL, frame.UnreachableURL)
			}
			// The session is untouched by all of it.
			if !testenv.Eval[bool](tab, `app.loadMe()`) {
				t.Errorf("the session ended after the hostile page's attempts")
			}
		})
	}

	t.Run("after sign-out no call succeeds", func(t *testing.T) {
		tab := b.Tab(t)
		tab.Do(chromedp.Click(chromedp.ID("logout")))
		tab.WaitText("message", "You are signed out")
		if c := testenv.Eval[string](tab, `document.cookie`); strings.Contains(c, "logged_in") {
			t.Errorf("document.cookie after sign-out: %q", c)
		}
		statuses := testenv.Eval[[]int](tab, `Promise.all([
			fetch(`+jsString(api.URL)+` + "/api/users/me", {credentials: "include"}).then(r => r.status),
			fetch(`+jsString(api.URL)+` + "/api/sessions", {credentials: "include"}).then(r => r.status),
			fetch(`+jsString(api.URL)+` + "/api/auth/refresh", {method: "POST", credentials: "include"}).then(r => r.status),
		])`)
		for i, st := range statuses {
			if st != http.StatusUnauthorized {
				t.Errorf("call %d after sign-out: %d, want 401", i, st)
			}
		}
		tab.Screenshot("spa-7-signed-out-again")
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sameOriginFront serves testdata/browser/<page> at "/" and forwards every /api/ request to the
// Portcullis set later with its setTarget, so that the page and the API share one origin, as
// the seed tutorials run them (a dev-server proxy). It returns that origin.
func sameOriginFront(t *testing.T, page string) (origin string, setTarget func(string)) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "browser", page))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		proxy *httputil.ReverseProxy
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			mu.Lock()
			p := proxy
			mu.Unlock()
			if p == nil {
				http.Error(w, "no API yet", http.StatusBadGateway)
				return
			}
			p.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(target string) {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		proxy = httputil.NewSingleHostReverseProxy(u)
	}
}

// TestBrowserSeedFrontEnd runs a front-end that behaves as the seed tutorials' front-ends do
// (same calls, the x-access-token header, the user kept in localStorage, the cookie tutorials'
// GET refresh) against PORTCULLIS_COMPAT=seed in Chromium, and checks that another origin
// cannot make the GET refresh spend the visitor's refresh token.
func TestBrowserSeedFrontEnd(t *testing.T) {
	front, setTarget := sameOriginFront(t, "seed.html")
	evil := pageServer(t, "evil.html")
	s := startServer(t, map[string]string{
		"PORTCULLIS_COMPAT":          "seed",
		"PORTCULLIS_PUBLIC_URL":      front,
		"PORTCULLIS_ALLOWED_ORIGINS": front,
		"PORTCULLIS_LOG_LEVEL":       "info",
	})
	setTarget(s.URL)
	b := testenv.NewBrowser(t)
	tab := b.Tab(t)
	id := randHex(4)
	username, email := "seed_"+id, "seed-"+id+"@example.com"

	tab.Do(chromedp.Navigate(front + "/"))
	tab.WaitFor(`window.seedReady`)
	tab.Do(
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), goodPassword),
		chromedp.Click(chromedp.ID("signup")),
	)
	tab.WaitText("alert", "User was registered successfully!")
	tab.Do(
		chromedp.SendKeys(chromedp.ID("login-username"), username),
		chromedp.SendKeys(chromedp.ID("login-password"), goodPassword),
		chromedp.Click(chromedp.ID("signin")),
	)
	if who := tab.WaitText("who", "Logged in as"); who != "Logged in as "+username+" ("+email+") roles ROLE_USER" {
		t.Fatalf("after login the page shows %q", who)
	}
	type stored struct {
		ID          string   `json:"id"`
		Username    string   `json:"username"`
		Roles       []string `json:"roles"`
		AccessToken string   `json:"accessToken"`
	}
	user := testenv.Eval[stored](tab, `JSON.parse(localStorage.getItem("user"))`)
	if user.ID == "" || user.Username != username || !slices.Equal(user.Roles, []string{"ROLE_USER"}) || user.AccessToken == "" {
		t.Fatalf("localStorage user: %+v", user)
	}
	tab.Screenshot("seed-1-logged-in")

	for _, c := range []struct{ button, want string }{
		{"nav-home", "Public Content."}, {"nav-user", "User Content."}, {"nav-admin", "your roles do not allow this"},
	} {
		tab.Do(chromedp.Click(chromedp.ID(c.button)))
		if got := tab.WaitText("content", c.want); got != c.want {
			t.Errorf("%s: board shows %q, want %q", c.button, got, c.want)
		}
		if c.button == "nav-user" {
			tab.Screenshot("seed-2-user-board")
		}
	}
	tab.Screenshot("seed-3-admin-board-refused")

	// The cookie tutorials' refresh, from the page's own origin.
	tab.Do(chromedp.Click(chromedp.ID("nav-refresh")))
	tab.WaitText("alert", "refresh: success")
	if got := s.requests("/api/auth/refresh"); len(got) != 1 || got[0].Method != http.MethodGet || got[0].Status != http.StatusOK {
		t.Fatalf("refresh requests at the server: %+v", got)
	}

	t.Run("another origin cannot spend the refresh token with a GET", func(t *testing.T) {
		hostile := b.NewTab(t)
		hostile.Do(chromedp.Navigate(evil + "/?api=" + url.QueryEscape(front)))
		hostile.WaitFor(`window.evil`)
		got := testenv.Eval[string](hostile, `fetch(`+jsString(front+"/api/auth/refresh")+`, {credentials: "include"}).then(r => "read " + r.status, e => "blocked: " + e.message)`)
		t.Logf("hostile page: fetch GET /api/auth/refresh: %s", got)
		// A link followed from the other origin is a navigation: refused as well.
		hostile.Do(chromedp.Navigate(evil + "/?api=" + url.QueryEscape(front)))
		hostile.WaitFor(`window.evil`)
		_ = testenv.Eval[string](hostile, `(() => { const a = document.createElement("a"); a.href = `+jsString(front+"/api/auth/refresh")+`; a.id = "go"; a.textContent = "go"; document.body.append(a); return "ok" })()`)
		status := hostile.Follow("go")
		if status != http.StatusForbidden {
			t.Errorf("the link from another origin: %d, want 403", status)
		}
		t.Logf("hostile page: link to GET /api/auth/refresh answered %d", status)
		hostile.Screenshot("seed-4-link-from-another-origin-refused")
		refreshes := s.requests("/api/auth/refresh")
		if len(refreshes) != 3 {
			t.Fatalf("refresh requests at the server: %+v, want the page's own and two refused", refreshes)
		}
		for _, l := range refreshes[1:] {
			if l.Status != http.StatusForbidden {
				t.Errorf("GET /api/auth/refresh from another origin: %d, want 403", l.Status)
			}
		}
		tab := b.Tab(t)
		tab.Do(chromedp.Click(chromedp.ID("nav-refresh")))
		tab.WaitText("alert", "refresh: success")
	})

	tab.Do(chromedp.Click(chromedp.ID("nav-logout")))
	tab.WaitText("alert", "You've been signed out!")
	if testenv.Eval[bool](tab, `localStorage.getItem("user") !== null`) {
		t.Error("the user is still in localStorage after logout")
	}
	if st := testenv.Eval[int](tab, `fetch("/api/test/user", {headers: {"x-access-token": `+jsString(user.AccessToken)+`}}).then(r => r.status)`); st != http.StatusUnauthorized {
		t.Errorf("the signed-out access token: %d, want 401", st)
	}
	tab.Do(chromedp.Click(chromedp.ID("nav-user")))
	tab.WaitText("content", "access token is required")
	tab.Screenshot("seed-5-logged-out")
}
