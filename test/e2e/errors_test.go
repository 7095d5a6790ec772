package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// TestErrorStatuses provokes every error status the API documents and checks each answer is a
// problem+json with the documented code.
func TestErrorStatuses(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	api := srv.apiClient()
	alice := api.register(t)
	tA := api.login(t, alice)

	t.Run("400", func(t *testing.T) {
		api := api.in(t)
		for _, tc := range []struct {
			name, body, code, fieldCode string
		}{
			{"malformed JSON", `{"email":`, "malformed_json", ""},
			{"not an object", `["a"]`, "invalid_body", ""},
			{"empty body", ``, "invalid_body", ""},
			{"unknown field", `{"email":"x@example.com","password":"long enough pass","nickname":"x"}`, "invalid_body", "unknown_field"},
			{"duplicate key", `{"email":"x@example.com","email":"y@example.com","password":"long enough pass"}`, "malformed_json", "duplicate_key"},
			{"wrong type", `{"email":5,"password":"long enough pass"}`, "invalid_body", "invalid_type"},
			{"trailing data", `{"email":"x@example.com","password":"long enough pass"} {}`, "malformed_json", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				api := api.in(t)
				var body any
				if tc.body != "" {
					body = tc.body
				}
				p := api.do("POST", "/api/auth/register", body, "Content-Type", "application/json").expectProblem(http.StatusBadRequest, tc.code)
				if tc.fieldCode != "" && (len(p.Errors) != 1 || p.Errors[0].Code != tc.fieldCode) {
					t.Errorf("errors %+v, want one %q", p.Errors, tc.fieldCode)
				}
			})
		}
	})

	t.Run("401", func(t *testing.T) {
		api := api.in(t)
		r := api.do("GET", "/api/users/me", nil)
		r.expectProblem(http.StatusUnauthorized, "unauthenticated")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
		api.do("GET", "/api/users/me", nil, bearer("not-a-jwt")...).expectProblem(http.StatusUnauthorized, "invalid_token")
		api.do("GET", "/api/users/me", nil, "Authorization", "Basic dXNlcjpwYXNz").expectProblem(http.StatusUnauthorized, "unauthenticated")
		// a token with one character of its signature changed
		bad := []byte(tA.AccessToken)
		if bad[len(bad)-2] == 'A' {
			bad[len(bad)-2] = 'B'
		} else {
			bad[len(bad)-2] = 'A'
		}
		api.do("GET", "/api/users/me", nil, bearer(string(bad))...).expectProblem(http.StatusUnauthorized, "invalid_token")
		api.do("POST", "/api/auth/login", map[string]string{"email": alice.Email, "password": "wrong password here"}).
			expectProblem(http.StatusUnauthorized, "invalid_credentials")
		api.do("POST", "/api/auth/refresh", nil).expectProblem(http.StatusUnauthorized, "unauthenticated")
		api.refresh("garbage").expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
		// an access token is not a refresh token (SECURITY C22)
		api.refresh(tA.AccessToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	})

	t.Run("403 role", func(t *testing.T) {
		api := api.in(t)
		api.do("GET", "/api/test/all", nil).expect(http.StatusOK)
		api.do("GET", "/api/test/user", nil, bearer(tA.AccessToken)...).expect(http.StatusOK)
		api.do("GET", "/api/test/mod", nil, bearer(tA.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")
		api.do("GET", "/api/test/admin", nil, bearer(tA.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")
		api.do("GET", "/api/test/admin", nil).expectProblem(http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("403 cross-site", func(t *testing.T) {
		browser := srv.client().in(t)
		browser.login(t, alice)
		browser.do("POST", "/api/auth/logout-all", nil, "Origin", evilOrigin).expectProblem(http.StatusForbidden, "cross_site_request")
		browser.do("PATCH", "/api/users/me", map[string]string{"name": "pwned"}, "Origin", "", "Sec-Fetch-Site", "cross-site").
			expectProblem(http.StatusForbidden, "cross_site_request")
		browser.do("GET", "/api/users/me", nil).expect(http.StatusOK) // the session survived
	})

	t.Run("404", func(t *testing.T) {
		api := api.in(t)
		api.do("GET", "/api/nope", nil).expectProblem(http.StatusNotFound, "route_not_found")
		api.do("GET", "/api/users/me/nope", nil).expectProblem(http.StatusNotFound, "route_not_found")
		api.do("DELETE", "/api/sessions/00000000-0000-0000-0000-000000000000", nil, bearer(tA.AccessToken)...).
			expectProblem(http.StatusNotFound, "not_found")
	})

	t.Run("404 another user's session", func(t *testing.T) {
		api := api.in(t)
		bob := api.register(t)
		tB := api.login(t, bob)
		sidB := parseJWT(t, tB.AccessToken).Claims.Sid
		api.do("DELETE", "/api/sessions/"+sidB, nil, bearer(tA.AccessToken)...).expectProblem(http.StatusNotFound, "not_found")
		if api.meStatus(tB.AccessToken) != http.StatusOK {
			t.Error("another user could end bob's session")
		}
	})

	t.Run("405", func(t *testing.T) {
		api := api.in(t)
		for _, tc := range []struct{ method, path, allow string }{
			{"PUT", "/api/auth/login", "POST"},
			{"GET", "/api/auth/logout", "POST"},
			{"DELETE", "/api/users/me", "GET"},
		} {
			r := api.do(tc.method, tc.path, nil)
			r.expectProblem(http.StatusMethodNotAllowed, "method_not_allowed")
			if !strings.Contains(r.Header.Get("Allow"), tc.allow) {
				t.Errorf("%s %s: Allow %q, want it to contain %s", tc.method, tc.path, r.Header.Get("Allow"), tc.allow)
			}
		}
	})

	t.Run("409", func(t *testing.T) {
		api := api.in(t)
		p := api.do("POST", "/api/auth/register", map[string]string{"email": "  " + strings.ToUpper(alice.Email) + " ", "password": goodPassword}).
			expectProblem(http.StatusConflict, "email_taken")
		if p.fieldCode("email") != "email_taken" {
			t.Errorf("409 does not name the field: %+v", p.Errors)
		}
		if strings.Contains(p.Detail, alice.Email) {
			t.Errorf("409 echoes the email: %q", p.Detail)
		}
		api.do("POST", "/api/auth/register", map[string]string{"email": "other-" + randHex(4) + "@example.com", "password": goodPassword, "username": strings.ToUpper(alice.Username)}).
			expectProblem(http.StatusConflict, "username_taken")
	})

	t.Run("413", func(t *testing.T) {
		api := api.in(t)
		big := `{"email":"x@example.com","password":"` + strings.Repeat("a", 20<<10) + `"}`
		api.do("POST", "/api/auth/register", big).expectProblem(http.StatusRequestEntityTooLarge, "body_too_large")
	})

	t.Run("415", func(t *testing.T) {
		api := api.in(t)
		body := `{"email":"x@example.com","password":"long enough pass"}`
		api.do("POST", "/api/auth/login", body, "Content-Type", "text/plain").expectProblem(http.StatusUnsupportedMediaType, "unsupported_media_type")
		api.do("POST", "/api/auth/login", body, "Content-Type", "application/x-www-form-urlencoded").expectProblem(http.StatusUnsupportedMediaType, "unsupported_media_type")
		api.do("POST", "/api/auth/login", body, "Content-Type", "application/json", "Content-Encoding", "gzip").expectProblem(http.StatusUnsupportedMediaType, "unsupported_media_type")
	})

	t.Run("422", func(t *testing.T) {
		api := api.in(t)
		p := api.do("POST", "/api/auth/register", map[string]string{"email": "not-an-email", "password": "seven77", "username": "A B"}).
			expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		for field, code := range map[string]string{"email": "invalid_email", "password": "password_too_short", "username": "invalid_username"} {
			if got := p.fieldCode(field); got != code {
				t.Errorf("field %s: code %q, want %q (errors %+v)", field, got, code, p.Errors)
			}
		}
		p = api.do("POST", "/api/auth/register", map[string]string{"email": "x-" + randHex(4) + "@example.com", "password": "password"}).
			expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		if p.fieldCode("password") != "password_too_common" {
			t.Errorf("errors %+v, want password_too_common", p.Errors)
		}
		p = api.do("POST", "/api/auth/login", map[string]string{"email": alice.Email}).expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		if p.fieldCode("password") != "required" {
			t.Errorf("login without password: %+v", p.Errors)
		}
		p = api.do("PATCH", "/api/users/me", map[string]string{"username": "no spaces allowed"}, bearer(tA.AccessToken)...).
			expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		if p.fieldCode("username") != "invalid_username" {
			t.Errorf("PATCH me: %+v", p.Errors)
		}
	})

	t.Run("431 or 401 for a 64 KiB header", func(t *testing.T) {
		api := api.in(t)
		// SECURITY C26: refused with bounded memory, as 431 (headers too large) or 401.
		r, err := api.try("GET", "/api/users/me", nil, bearer(strings.Repeat("a", 64<<10))...)
		if err != nil {
			t.Fatalf("no answer to a 64 KiB header: %v", err)
		}
		switch r.Status {
		case http.StatusRequestHeaderFieldsTooLarge:
			r.expectProblem(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
		case http.StatusUnauthorized:
			r.expectProblem(http.StatusUnauthorized, "invalid_token")
		default:
			t.Fatalf("status %d, want 431 or 401; body %s", r.Status, r.Body)
		}
		dots := bytes.Repeat([]byte("."), 30<<10) // within the header limit: the token parser's turn
		api.do("GET", "/api/users/me", nil, bearer(string(dots))...).expectProblem(http.StatusUnauthorized, "invalid_token")
		api.do("GET", "/api/users/me", nil).expect(http.StatusUnauthorized) // the server is still fine
	})
}
