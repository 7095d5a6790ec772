package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// seedSignin is the seed tutorials' signin answer.
type seedSignin struct {
	ID           string   `json:"id"`
	Username     string   `json:"username"`
	Email        string   `json:"email"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"accessToken"`
	RefreshToken string   `json:"refreshToken"`
	TokenType    string   `json:"tokenType"`
}

// seedProblem is a problem document of a seed route: problem+json with the seed's message.
type seedProblem struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *resp) expectSeedProblem(status int, code string) seedProblem {
	r.t.Helper()
	r.expect(status)
	var p seedProblem
	r.decode(&p)
	if p.Code != code || p.Message == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		r.t.Fatalf("%s: %s %s; want problem+json %s with a message", r.req, r.Header.Get("Content-Type"), r.Body, code)
	}
	return p
}

// TestCompatSeed: with PORTCULLIS_COMPAT=seed the seed tutorials' routes answer their shapes,
// and security is the API's: argon2id, requested roles ignored, short-lived revocable tokens,
// one generic failure for unknown user and wrong password, GET /api/auth/refresh same-origin
// only.
func TestCompatSeed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"PORTCULLIS_COMPAT": "seed", "PORTCULLIS_REFRESH_GRACE": "0s"})
	api := srv.apiClient().in(t)
	id := randHex(4)
	username, email := "seed_"+id, "seed-"+id+"@example.com"

	t.Run("signup ignores requested roles and keeps the password policy", func(t *testing.T) {
		api := api.in(t)
		var ok struct {
			Message string `json:"message"`
		}
		api.do("POST", "/api/auth/signup", map[string]any{"username": username, "email": email, "password": goodPassword,
			"roles": []string{"admin", "moderator"}}).expect(http.StatusOK).decode(&ok)
		if ok.Message != "User was registered successfully!" {
			t.Errorf("signup message %q", ok.Message)
		}
		api.do("POST", "/api/auth/signup", map[string]any{"username": username + "x", "email": "x" + email, "password": "short7c"}).
			expectSeedProblem(http.StatusUnprocessableEntity, "validation_failed")
		p := api.do("POST", "/api/auth/signup", map[string]any{"username": username, "email": "other-" + email, "password": goodPassword}).
			expectSeedProblem(http.StatusConflict, "username_taken")
		t.Logf("duplicate username: %d %q", p.Status, p.Message)
		var hash string
		if err := openStore(t, srv).QueryRowContext(context.Background(), "SELECT password_hash FROM users WHERE email = ?", email).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$") {
			t.Errorf("stored hash %q is not argon2id", truncate(hash, 20))
		}
	})

	var in seedSignin
	t.Run("signin answers the seed's shape and sets the session cookies", func(t *testing.T) {
		browser := srv.client().in(t)
		r := browser.do("POST", "/api/auth/signin", map[string]string{"username": username, "password": goodPassword}).expect(http.StatusOK)
		r.decode(&in)
		if in.ID == "" || in.Username != username || in.Email != email || !slices.Equal(in.Roles, []string{"ROLE_USER"}) ||
			in.AccessToken == "" || in.RefreshToken == "" || in.TokenType != "Bearer" {
			t.Fatalf("signin body %s", r.Body)
		}
		if claims := parseJWT(t, in.AccessToken).Claims; claims.Sub != in.ID || !slices.Equal(claims.Roles, []string{"user"}) {
			t.Errorf("access token claims %+v", claims)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
		cks := r.setCookies()
		for _, name := range []string{"access_token", "refresh_token", "logged_in"} {
			if cks[name] == nil {
				t.Errorf("signin set no %s cookie", name)
			}
		}
		// Unknown user and wrong password: one generic answer.
		wrong := api.do("POST", "/api/auth/signin", map[string]string{"username": username, "password": "not the password"}).
			expectSeedProblem(http.StatusUnauthorized, "invalid_credentials")
		unknown := api.do("POST", "/api/auth/signin", map[string]string{"username": "nobody_" + id, "password": "not the password"}).
			expectSeedProblem(http.StatusUnauthorized, "invalid_credentials")
		if wrong.Message != unknown.Message {
			t.Errorf("wrong password %q vs unknown user %q", wrong.Message, unknown.Message)
		}
		// The seed's email login is not a shape it has: username only.
		api.do("POST", "/api/auth/signin", map[string]string{"email": email, "password": goodPassword}).expect(http.StatusBadRequest)
	})

	t.Run("test routes answer plain text and check roles", func(t *testing.T) {
		api := api.in(t)
		xat := []string{"x-access-token", in.AccessToken}
		for path, want := range map[string]string{"/api/test/all": "Public Content.", "/api/test/user": "User Content."} {
			r := api.do("GET", path, nil, xat...).expect(http.StatusOK)
			if string(r.Body) != want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("GET %s: %s %q, want text/plain %q", path, r.Header.Get("Content-Type"), r.Body, want)
			}
		}
		api.do("GET", "/api/test/mod", nil, xat...).expectSeedProblem(http.StatusForbidden, "insufficient_role")
		api.do("GET", "/api/test/admin", nil, xat...).expectSeedProblem(http.StatusForbidden, "insufficient_role")
		api.do("GET", "/api/test/user", nil).expectSeedProblem(http.StatusUnauthorized, "unauthenticated")
		api.do("GET", "/api/test/user", nil, "x-access-token", in.AccessToken+"x").expectSeedProblem(http.StatusUnauthorized, "invalid_token")
	})

	t.Run("GET /api/auth/refresh rotates from the same origin only", func(t *testing.T) {
		browser := srv.client().in(t)
		var tk seedSignin
		browser.do("POST", "/api/auth/signin", map[string]string{"username": username, "password": goodPassword}).expect(http.StatusOK).decode(&tk)
		refresh := browser.cookie("/api/auth/refresh", "refresh_token")
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Sec-Fetch-Site", "none"},
			{"Origin", "http://evil.example"}, {"Origin", testOrigin}, {}, // allowed for CORS is not same-origin
		} {
			browser.do("GET", "/api/auth/refresh", nil, h...).expectProblem(http.StatusForbidden, "cross_site_request")
		}
		if browser.cookie("/api/auth/refresh", "refresh_token") != refresh {
			t.Fatal("a refused GET changed the refresh cookie")
		}
		var out struct {
			Status      string `json:"status"`
			AccessToken string `json:"access_token"`
		}
		r := browser.do("GET", "/api/auth/refresh", nil, "Sec-Fetch-Site", "same-origin").expect(http.StatusOK)
		r.decode(&out)
		if out.Status != "success" || out.AccessToken == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("refresh body %s", r.Body)
		}
		rotated := browser.cookie("/api/auth/refresh", "refresh_token")
		if rotated == "" || rotated == refresh {
			t.Fatal("the refresh cookie was not rotated")
		}
		// Without fetch metadata, an Origin naming Portcullis itself is same-origin.
		browser.do("GET", "/api/auth/refresh", nil, "Origin", srv.Config.PublicURL).expect(http.StatusOK)
		// The first token was really spent: presenting it again (no grace here) is refused and
		// revokes the session, as POST /api/auth/refresh does.
		api.refresh(refresh).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
		if st := api.meStatus(out.AccessToken); st != http.StatusUnauthorized {
			t.Errorf("after reuse of a spent refresh token the session's access token: %d, want 401", st)
		}
	})

	t.Run("signout ends the session", func(t *testing.T) {
		api := api.in(t)
		var ok struct {
			Message string `json:"message"`
		}
		api.do("POST", "/api/auth/signout", nil, "x-access-token", in.AccessToken).expect(http.StatusOK).decode(&ok)
		if ok.Message != "You've been signed out!" {
			t.Errorf("signout message %q", ok.Message)
		}
		api.do("GET", "/api/test/user", nil, "x-access-token", in.AccessToken).expectSeedProblem(http.StatusUnauthorized, "invalid_token")
		api.refresh(in.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	})
}

// TestCompatOff: without PORTCULLIS_COMPAT the seed routes do not exist, GET refresh changes
// nothing, and /api/test answers JSON.
func TestCompatOff(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient().in(t)
	for _, path := range []string{"/api/auth/signup", "/api/auth/signin", "/api/auth/signout"} {
		api.do("POST", path, map[string]string{}).expectProblem(http.StatusNotFound, "route_not_found")
	}
	api.do("GET", "/api/auth/refresh", nil, "Sec-Fetch-Site", "same-origin").expectProblem(http.StatusMethodNotAllowed, "method_not_allowed")
	r := api.do("GET", "/api/test/all", nil).expect(http.StatusOK)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(string(r.Body), `"message"`) {
		t.Errorf("GET /api/test/all: %s %s", r.Header.Get("Content-Type"), r.Body)
	}
	if strings.Contains(string(api.do("GET", "/api/test/nope", nil).Body), `"message"`) {
		t.Error("a problem outside the seed mode carries message")
	}
}
