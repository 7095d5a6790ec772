package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// A use case refusing with domain.ErrThrottled becomes 429 too_many_requests with Retry-After
// (whole seconds, rounded up) and the RateLimit-* fields of the exhausted limit.
func TestThrottledIs429WithRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.srv.App().Get("/throttled", func(*fiber.Ctx) error {
		return fmt.Errorf("login: %w", &domain.ThrottledError{RetryAfter: 41500 * time.Millisecond, Limit: 5, Window: time.Minute})
	})
	r := e.do(req("GET", "/throttled", nil))
	expectProblem(t, r, 429, "too_many_requests")
	for h, want := range map[string]string{"Retry-After": "42", "RateLimit-Limit": "5", "RateLimit-Remaining": "0",
		"RateLimit-Reset": "42", "Cache-Control": "no-store"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func httpLimits() application.Limits {
	return application.Limits{
		LoginAccount: ports.RateLimit{Burst: 2, Period: time.Minute},
		LoginIP:      ports.RateLimit{Burst: 50, Period: time.Minute},
		AccountLock:  ports.RateLimit{Burst: 2, Period: 15 * time.Minute},
		IPLock:       ports.RateLimit{Burst: 100, Period: 15 * time.Minute},
		LockFor:      15 * time.Minute,
		Register:     ports.RateLimit{Burst: 3, Period: time.Hour},
		TokenGuess:   ports.RateLimit{Burst: 2, Period: 10 * time.Minute},
	}
}

// From a trusted proxy, each client address (rightmost untrusted X-Forwarded-For hop) has its
// own registration limit; an untrusted peer's header changes nothing (SECURITY B12).
func TestRegistrationThrottledPerClientAddress(t *testing.T) {
	e := newThrottledEnv(t, baseSettings(), httpLimits(), func(c *httpapi.Config) { c.TrustedProxies = []string{"0.0.0.0/32"} })
	reg := func(email, xff string) response {
		return e.do(req("POST", "/api/auth/register", map[string]any{"email": email, "password": password}, "X-Forwarded-For", xff))
	}
	for i := range 3 {
		if r := reg(fmt.Sprintf("r%d@example.com", i), "198.51.100.1"); r.StatusCode != 201 {
			t.Fatalf("registration %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	r := reg("r3@example.com", "203.0.113.9, 198.51.100.1") // a forged hop before the real one
	expectProblem(t, r, 429, "too_many_requests")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Limit") != "3" {
		t.Fatalf("429 headers: %v", r.Header)
	}
	if _, err := e.users.ByEmail(t.Context(), "r3@example.com"); err == nil {
		t.Fatal("a throttled registration created the user")
	}
	if r := reg("r3@example.com", "198.51.100.2"); r.StatusCode != 201 {
		t.Fatalf("another client address: %d %s", r.StatusCode, r.body)
	}
}

// Bad refresh tokens count against the client address; past the limit even a good one waits
// (token guessing), and the 429 comes before the token is looked at.
func TestRefreshTokenGuessingThrottled(t *testing.T) {
	e := newThrottledEnv(t, baseSettings(), httpLimits())
	e.register("guess@example.com")
	s := e.login("guess@example.com")
	for range 2 {
		expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": "x.forged"})), 401, "invalid_refresh_token")
	}
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh})), 429, "too_many_requests")
}

// The admin API shows and lifts a login lock: GET /api/users/{id}/lock, POST .../unlock.
func TestAdminSeesAndLiftsLoginLock(t *testing.T) {
	e := newThrottledEnv(t, baseSettings(), httpLimits())
	e.register("root@example.com", domain.RoleUser, domain.RoleAdmin)
	root := e.login("root@example.com")
	id := e.register("locked@example.com")
	e.register("mod@example.com", domain.RoleUser, domain.RoleModerator)
	mod := e.login("mod@example.com")
	for range 2 {
		expectProblem(t, e.do(req("POST", "/api/auth/login", map[string]any{"email": "locked@example.com", "password": "wrong password!"})),
			401, "invalid_credentials")
	}
	r := e.do(req("POST", "/api/auth/login", map[string]any{"email": "locked@example.com", "password": password}))
	expectProblem(t, r, 429, "too_many_requests")
	if ra := r.Header.Get("Retry-After"); ra != "900" {
		t.Fatalf("Retry-After of a soft lock = %q, want 900", ra)
	}
	m := expectStatus(t, e.call("GET", "/api/users/"+id+"/lock", nil, mod.access), 200)
	if m["locked"] != true || m["retry_after_seconds"].(float64) < 890 {
		t.Fatalf("lock status = %v", m)
	}
	expectProblem(t, e.call("POST", "/api/users/"+id+"/unlock", nil, mod.access), 403, "insufficient_role")
	if r := e.call("POST", "/api/users/"+id+"/unlock", nil, root.access); r.StatusCode != 204 {
		t.Fatalf("unlock: %d %s", r.StatusCode, r.body)
	}
	if m := expectStatus(t, e.call("GET", "/api/users/"+id+"/lock", nil, root.access), 200); m["locked"] != false || m["delayed"] != false {
		t.Fatalf("lock status after unlock = %v", m)
	}
	e.login("locked@example.com")
	expectProblem(t, e.call("POST", "/api/users/no-such-user/unlock", nil, root.access), 404, "not_found")
	if !strings.Contains(e.logs.String(), `"account unlocked"`) {
		t.Fatal("the unlock is not logged")
	}
}

// The password that confirms a change of password or address is throttled as a login of the
// account (SECURITY B11): a stolen session guessing it meets 429 with Retry-After, the lock then
// refuses the right password on those routes and at login, and nothing was changed.
func TestPasswordConfirmationsThrottledAsLogins(t *testing.T) {
	e := newThrottledEnv(t, baseSettings(), httpLimits())
	e.register("owner@example.com")
	s := e.login("owner@example.com")
	expectProblem(t, e.call("PUT", "/api/users/me/password", map[string]any{"current_password": "wrong guess 1",
		"new_password": "a new pass phrase"}, s.access), 401, "invalid_credentials")
	expectProblem(t, e.call("POST", "/api/users/me/email", map[string]any{"new_email": "thief@example.com",
		"password": "wrong guess 2"}, s.access), 401, "invalid_credentials")
	for _, r := range []response{
		e.call("PUT", "/api/users/me/password", map[string]any{"current_password": password, "new_password": "a new pass phrase"}, s.access),
		e.call("POST", "/api/users/me/email", map[string]any{"new_email": "thief@example.com", "password": password}, s.access),
		e.do(req("POST", "/api/auth/login", map[string]any{"email": "owner@example.com", "password": password})),
	} {
		expectProblem(t, r, 429, "too_many_requests")
		if ra := r.Header.Get("Retry-After"); ra != "900" {
			t.Fatalf("Retry-After of the soft lock = %q, want 900", ra)
		}
	}
	u, _ := e.users.ByEmail(context.Background(), "owner@example.com")
	if u.Email != "owner@example.com" || u.PasswordHash != "fake$"+password {
		t.Fatalf("a refused change changed the account: %+v", u)
	}
}

// The password that confirms a new way in (a passkey, a TOTP authenticator) is throttled the
// same way: a stolen session guessing it there meets the lock too, and no ceremony or pending
// authenticator was made. Without the password the routes answer 422 naming it.
func TestNewWaysInTakeThePasswordThrottledAsLogins(t *testing.T) {
	e := newThrottledEnv(t, baseSettings(), httpLimits())
	e.register("owner@example.com")
	s := e.login("owner@example.com")
	for _, path := range []string{"/api/users/me/passkeys/begin", "/api/users/me/mfa/totp"} {
		if m := expectProblem(t, e.call("POST", path, map[string]any{}, s.access), 422, "validation_failed"); !strings.Contains(fmt.Sprint(m["errors"]), "password") {
			t.Fatalf("POST %s with {}: %v, want the password named", path, m)
		}
	}
	expectProblem(t, e.call("POST", "/api/users/me/passkeys/begin", map[string]any{"password": "wrong guess 1"}, s.access), 401, "invalid_credentials")
	expectProblem(t, e.call("POST", "/api/users/me/mfa/totp", map[string]any{"password": "wrong guess 2"}, s.access), 401, "invalid_credentials")
	for _, r := range []response{
		e.call("POST", "/api/users/me/passkeys/begin", map[string]any{"password": password}, s.access),
		e.call("POST", "/api/users/me/mfa/totp", map[string]any{"password": password}, s.access),
		e.do(req("POST", "/api/auth/login", map[string]any{"email": "owner@example.com", "password": password})),
	} {
		expectProblem(t, r, 429, "too_many_requests")
	}
	if m := expectStatus(t, e.call("GET", "/api/users/me/mfa", nil, s.access), 200); m["totp"] != "none" {
		t.Fatalf("a refused enrolment began one: %v", m)
	}
}

// An address change sends mail, so it counts against the client address's mail limit
// (PORTCULLIS_RATE_MAIL_IP) with the other requests that do: a signed-in account cannot make the
// service mail any number of addresses.
func TestAddressChangesCountAgainstTheMailLimit(t *testing.T) {
	limits := httpLimits()
	limits.Mail = ports.RateLimit{Burst: 2, Period: time.Hour}
	e := newThrottledEnv(t, baseSettings(), limits)
	e.register("sender@example.com")
	s := e.login("sender@example.com")
	change := func(to string) response {
		return e.call("POST", "/api/users/me/email", map[string]any{"new_email": to, "password": password}, s.access)
	}
	for _, to := range []string{"one@example.net", "two@example.net"} {
		if r := change(to); r.StatusCode != 202 {
			t.Fatalf("change to %s: %d %s", to, r.StatusCode, r.body)
		}
	}
	r := change("three@example.net")
	expectProblem(t, r, 429, "too_many_requests")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	expectProblem(t, e.do(req("POST", "/api/auth/password/forgot", map[string]any{"email": "sender@example.com"})), 429, "too_many_requests")
}

// RFC 7239 Forwarded is read like X-Forwarded-For (rightmost untrusted for=), only from a trusted
// peer; an obfuscated hop stops the walk at the proxy before it.
func TestForwardedHeaderFromTrustedProxy(t *testing.T) {
	cases := map[string]string{
		`for=198.51.100.7, for="[2001:db8::17]:4711";proto=https, for=10.0.0.2`: "2001:db8::17",
		`for=192.0.2.60;proto=http;by=203.0.113.43`:                             "192.0.2.60",
		`for="203.0.113.9:8080"`:                                                "203.0.113.9",
		`for=198.51.100.7, for=_hidden, for=10.0.0.2`:                           "10.0.0.2",
	}
	for header, want := range cases {
		e := newEnv(t, func(c *httpapi.Config) { c.TrustedProxies = []string{"0.0.0.0/32", "10.0.0.0/8"} })
		e.do(req("GET", "/healthz", nil, "Forwarded", header))
		if ip := logLines(t, e)[0]["ip"]; ip != want {
			t.Errorf("Forwarded: %s -> ip %v, want %s", header, ip, want)
		}
	}
	e := newEnv(t)
	e.do(req("GET", "/healthz", nil, "Forwarded", "for=203.0.113.9"))
	if ip := logLines(t, e)[0]["ip"]; ip != "0.0.0.0" {
		t.Fatalf("an untrusted peer's Forwarded was believed: ip=%v", ip)
	}
}

// A NUL or other control byte in a refresh token, a session id, a cursor or a query filter is a
// 4xx that changes nothing, never a 500; so is a garbage /api/audit cursor (422, like /api/users).
func TestControlBytesAre4xx(t *testing.T) {
	e := newEnv(t)
	id := e.register("root@example.com", domain.RoleUser, domain.RoleAdmin)
	root := e.login("root@example.com")
	for _, tok := range []string{"\x00.x", "abc\x00def.AAAA", "a\nb." + strings.Repeat("A", 43)} {
		expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": tok})), 401, "invalid_refresh_token")
		if r := e.do(req("POST", "/api/auth/logout", map[string]any{"refresh_token": tok})); r.StatusCode >= 500 {
			t.Fatalf("logout with %q: %d %s", tok, r.StatusCode, r.body)
		}
	}
	for _, path := range []string{"/api/users?q=a%00b", "/api/users?cursor=%00", "/api/audit?user_id=%00", "/api/audit?event=x%0Ay",
		"/api/audit?cursor=a%00", "/api/sessions/ab%00cd", "/api/users/" + id + "%00", "/api/users?q=%FF"} {
		method := "GET"
		if strings.HasPrefix(path, "/api/sessions/") {
			method = "DELETE"
		}
		expectProblem(t, e.call(method, path, nil, root.access), 400, "invalid_characters")
	}
	expectProblem(t, e.call("GET", "/api/audit?cursor=not!a*cursor", nil, root.access), 422, "validation_failed")
	e.login("root@example.com") // nothing was changed
}

// listening starts a server of newEnv on a real socket and returns its address.
func listening(t *testing.T) string {
	t.Helper()
	e := newEnv(t)
	if err := e.srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.srv.Stop(context.Background()) })
	return e.srv.Addr().String()
}

// rawLogin writes a login request to addr over a connection of its own, its head ending with
// rest (more header lines, the blank line and the body), and returns the answer's status and
// whether the server then closed the connection: it sends nothing more and ends the stream (EOF),
// whatever the headers say.
func rawLogin(t *testing.T, addr, rest string) (string, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s", rest)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", rest, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, err = br.ReadByte()
	return resp.Status, errors.Is(err, io.EOF)
}

// RFC 9112 §6.3 framing, over a real connection: Content-Length with Transfer-Encoding, a
// transfer coding other than chunked, or two different Content-Lengths are 400 and the
// connection is closed; so are two Origin headers. A well-framed request on the same kind of
// connection is answered normally.
func TestAmbiguousFramingRefusedAndConnectionClosed(t *testing.T) {
	addr, body := listening(t), `{"email":"x@example.com","password":"correct horse battery"}`
	send := func(headers string) (string, bool) { return rawLogin(t, addr, headers+"\r\n"+body) }
	n := strconv.Itoa(len(body))
	for name, h := range map[string]string{
		"CL and TE":        "Content-Length: " + n + "\r\nTransfer-Encoding: chunked\r\n",
		"TE gzip":          "Transfer-Encoding: gzip\r\nContent-Length: " + n + "\r\n",
		"TE gzip, chunked": "Transfer-Encoding: gzip, chunked\r\n",
		"two CL":           "Content-Length: " + n + "\r\nContent-Length: 5\r\n",
		"two Origins":      "Content-Length: " + n + "\r\nOrigin: " + allowedOrigin + "\r\nOrigin: " + foreignOrigin + "\r\n",
	} {
		status, closed := send(h)
		if !strings.HasPrefix(status, "400") || !closed {
			t.Errorf("%s: %s, connection closed %t; want 400 and closed", name, status, closed)
		}
	}
	if status, _ := send("Content-Length: " + n + "\r\n"); !strings.HasPrefix(status, "401") {
		t.Errorf("a well-framed login for no account: %s, want 401", status)
	}
}

// A chunked body whose chunk lines a proxy in front could read differently from this server (a
// bare LF inside a chunk extension or after the size, a size that is not plain hex) is 400 and the
// connection is closed: read one way by a proxy and another by the server, such a body is how a
// smuggled request gets past the proxy (valyala/fasthttp#1899). A well-formed chunked body, with
// an extension, is read as usual.
func TestMalformedChunkedBodyRefusedAndConnectionClosed(t *testing.T) {
	addr, body := listening(t), `{"email":"x@example.com","password":"correct horse battery"}`
	size := strconv.FormatInt(int64(len(body)), 16)
	send := func(chunks string) (string, bool) {
		return rawLogin(t, addr, "Transfer-Encoding: chunked\r\n\r\n"+chunks)
	}
	for name, chunks := range map[string]string{
		"bare LF in an extension": size + ";\nxx\r\n" + body + "\r\n0\r\n\r\n",
		"bare LF after the size":  size + "\n" + body + "\r\n0\r\n\r\n",
		"size with 0x":            "0x" + size + "\r\n" + body + "\r\n0\r\n\r\n",
		"size with +":             "+" + size + "\r\n" + body + "\r\n0\r\n\r\n",
	} {
		status, closed := send(chunks)
		if !strings.HasPrefix(status, "400") || !closed {
			t.Errorf("%s: %s, connection closed %t; want 400 and closed", name, status, closed)
		}
	}
	if status, _ := send(size + ";ext=1\r\n" + body + "\r\n0\r\n\r\n"); !strings.HasPrefix(status, "401") {
		t.Errorf("a well-formed chunked login for no account: %s, want 401", status)
	}
}

// Each passkey login ceremony begun without a session stores a challenge, so beginning them is
// limited per client address like registration: past the limit, 429 and nothing stored.
func TestPasskeyLoginBeginThrottledPerClientAddress(t *testing.T) {
	limits := httpLimits()
	limits.Passkey = ports.RateLimit{Burst: 2, Period: time.Minute}
	e := newThrottledEnv(t, baseSettings(), limits, func(c *httpapi.Config) { c.TrustedProxies = []string{"0.0.0.0/32"} })
	begin := func(xff string) response {
		return e.do(req("POST", "/api/auth/passkey/begin", map[string]any{}, "X-Forwarded-For", xff))
	}
	for i := range 2 {
		if r := begin("198.51.100.7"); r.StatusCode != 200 {
			t.Fatalf("ceremony %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	r := begin("198.51.100.7")
	expectProblem(t, r, 429, "too_many_requests")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("RateLimit-Limit") != "2" {
		t.Fatalf("429 headers: %v", r.Header)
	}
	if r := begin("198.51.100.8"); r.StatusCode != 200 {
		t.Fatalf("another client address: %d %s", r.StatusCode, r.body)
	}
}
