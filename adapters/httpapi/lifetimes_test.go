package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// Token lifetimes (expires_in, refresh_expires_in) and cookie Max-Ages come from what the use
// cases report (IssuedAt and the expiries), not from a second copy of the TTLs in the HTTP
// config; the client's address and user agent reach the session through the request context.
func TestLifetimesFollowTheUseCases(t *testing.T) {
	settings := baseSettings()
	settings.AccessTTL = 7 * time.Minute
	settings.SessionIdle = 2 * time.Hour
	e := newEnvWith(t, settings)
	id := e.register("ttl@example.com")

	check := func(what string, r response) {
		t.Helper()
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", what, r.StatusCode, r.body)
		}
		body := r.json(t)
		if got := body["expires_in"].(float64); got != 420 {
			t.Errorf("%s: expires_in = %v, want 420", what, got)
		}
		if got := body["refresh_expires_in"].(float64); got != 7200 {
			t.Errorf("%s: refresh_expires_in = %v, want 7200", what, got)
		}
		for name, want := range map[string]int{"access_token": 420, "refresh_token": 7200, "logged_in": 7200} {
			c := findCookie(r.Cookies(), name)
			if c == nil || c.MaxAge != want {
				t.Errorf("%s: cookie %s = %+v, want Max-Age %d", what, name, c, want)
			}
		}
	}
	r := e.do(req("POST", "/api/auth/login", map[string]any{"email": "ttl@example.com", "password": password},
		"User-Agent", "lifetime-test/1.0"))
	check("login", r)
	r = e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": r.json(t)["refresh_token"]}))
	check("refresh", r)

	list, err := e.sessions.ListByUser(context.Background(), id, time.Now())
	if err != nil || len(list) != 1 {
		t.Fatalf("ListByUser = %v, %v; want one session", list, err)
	}
	if list[0].UserAgent != "lifetime-test/1.0" || list[0].IP == "" {
		t.Fatalf("session IP %q, user agent %q; want the request's", list[0].IP, list[0].UserAgent)
	}
}
