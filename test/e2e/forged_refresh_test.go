package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// TestForgedRefreshTokenDoesNotRevoke: the session id is no secret (it is the sid claim of
// every access token), so "<sid>.<any 43 base64url chars>" must be refused with 401 and must
// not end the session: the real refresh token and the access token keep working. A retired
// token of the session itself, replayed after the grace window, still revokes.
func TestForgedRefreshTokenDoesNotRevoke(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, b.env(t))
			forgedRefreshDoesNotRevoke(t, srv)
		})
	}
}

func forgedRefreshDoesNotRevoke(t *testing.T, srv *server) {
	api := srv.apiClient().in(t)
	a := api.register(t)
	t0 := api.login(t, a)
	sid := parseJWT(t, t0.AccessToken).Claims.Sid
	if sid == "" || !strings.HasPrefix(t0.RefreshToken, sid+".") {
		t.Fatalf("the refresh token does not start with the access token's sid %q", sid)
	}
	forge := func() string {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		return sid + "." + base64.RawURLEncoding.EncodeToString(secret) // 43 characters
	}

	// Before the first rotation and after one (the session then has a predecessor).
	for range 3 {
		api.refresh(forge()).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	}
	if api.meStatus(t0.AccessToken) != http.StatusOK {
		t.Fatal("a forged refresh token ended the session: its access token is refused")
	}
	var t1 tokens
	api.refresh(t0.RefreshToken).expect(http.StatusOK).decode(&t1)
	if parseJWT(t, t1.AccessToken).Claims.Sid != sid {
		t.Fatal("the real refresh token started another session")
	}
	api.refresh(forge()).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	if api.meStatus(t1.AccessToken) != http.StatusOK {
		t.Fatal("a forged refresh token ended the session after a rotation")
	}
	var t2 tokens
	api.refresh(t1.RefreshToken).expect(http.StatusOK).decode(&t2)
	if api.meStatus(t2.AccessToken) != http.StatusOK {
		t.Fatal("the access token of the real rotation is refused")
	}
	// The session's own retired token (two generations old) still proves theft and revokes.
	api.refresh(t0.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	api.refresh(t2.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	if api.meStatus(t2.AccessToken) != http.StatusUnauthorized {
		t.Fatal("the session survived the replay of one of its retired refresh tokens")
	}
}
