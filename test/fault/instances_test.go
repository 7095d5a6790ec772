package fault

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestH60_ThreeInstancesAsOne runs three portcullis processes on different ports over one
// database and one session store (the shared servers, a fresh database and key prefix): a token
// from any works on all; a logout, a password change, a disable and a role change on one are seen
// by all on the next request, through each instance's user and session caches where the store
// has them; a key rotation is picked up by all without a 401 (H59); and, on Redis, the login
// throttling is shared, so failures spread over the three are still throttled. It runs on MariaDB
// with Redis sessions (no user cache; the session cache behind Redis client tracking) and on
// PostgreSQL alone (users and sessions in the database, both caches behind LISTEN/NOTIFY).
func TestH60_ThreeInstancesAsOne(t *testing.T) {
	t.Run("MySQL+Redis", func(t *testing.T) {
		threeInstancesAsOne(t, true, "PORTCULLIS_DATABASE_URL="+testenv.MySQLURL(t),
			"PORTCULLIS_SESSION_STORE="+testenv.RedisURL(t), "PORTCULLIS_REDIS_KEY_PREFIX="+testenv.RedisPrefix(t))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		// Without Redis each process counts login failures alone: no shared throttling to check.
		threeInstancesAsOne(t, false, "PORTCULLIS_DATABASE_URL="+testenv.PostgresURL(t), "PORTCULLIS_SESSION_STORE=sql")
	})
}

func threeInstancesAsOne(t *testing.T, sharedLimits bool, stores ...string) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "admin-password")
	if err := os.WriteFile(pwFile, []byte(outagePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{
		"PORTCULLIS_DATA_DIR=" + dir,
		"PORTCULLIS_KEY_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"PORTCULLIS_KEY_RELOAD_INTERVAL=1s",
		"PORTCULLIS_BOOTSTRAP_ADMIN_EMAIL=root@example.com",
		"PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD_FILE=" + pwFile,
		// The default bursts (5 per account, 20 per client address) over an hour rather than the
		// default minute: at 20/1m one attempt comes back every 3 s, and on a loaded machine the
		// twenty argon2id-bound failures below take longer than that, so the 21st would be let in
		// by the refill, not by a fault in the sharing this test is about.
		"PORTCULLIS_RATE_LOGIN_ACCOUNT=5/1h", "PORTCULLIS_RATE_LOGIN_IP=20/1h",
	}, stores...)
	// One after the other, so that exactly one of them creates the bootstrap admin.
	var bases []string
	for range 3 {
		bases = append(bases, start(t, testenv.FreeAddr(t), env).base)
	}
	a, b, c := bases[0], bases[1], bases[2]
	me := func(base, access string) int {
		return call(t, "GET", base+"/api/users/me", nil, "Authorization", "Bearer "+access).status
	}
	login := func(base, email, pw string) reply {
		return call(t, "POST", base+"/api/auth/login", map[string]string{"email": email, "password": pw})
	}
	access := func(r reply) string {
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return r.json()["access_token"].(string)
	}
	everywhere := func(what, tok string, want int) {
		t.Helper()
		for i, base := range bases {
			if got := me(base, tok); got != want {
				t.Fatalf("%s: instance %d answers %d, want %d", what, i, got, want)
			}
		}
	}
	root := access(login(a, "root@example.com", outagePassword))

	// A token from any instance works on all; a logout on one is seen by all.
	tk := registerAndLogin(t, b, "h60@example.com")
	everywhere("token from B", tk.access, 200)
	if r := call(t, "POST", c+"/api/auth/logout", nil, "Authorization", "Bearer "+tk.access); r.status != 204 {
		t.Fatalf("logout on C: %d %s", r.status, r.body)
	}
	everywhere("after logout on C", tk.access, 401)
	t.Log("token from B works on A, B, C; logout on C is seen by all")

	// A password change on one ends the other sessions on all.
	other := access(login(a, "h60@example.com", outagePassword))
	mine := access(login(b, "h60@example.com", outagePassword))
	r := call(t, "PUT", c+"/api/users/me/password", map[string]string{"current_password": outagePassword,
		"new_password": outagePassword + " 2"}, "Authorization", "Bearer "+mine)
	if r.status != 204 {
		t.Fatalf("password change on C: %d %s", r.status, r.body)
	}
	everywhere("another session after the password change", other, 401)
	pw := outagePassword + " 2"

	// A role change on one is seen by all on the next request, and so is a disable.
	tok := access(login(c, "h60@example.com", pw))
	u := call(t, "GET", a+"/api/users/me", nil, "Authorization", "Bearer "+tok).json()["user"].(map[string]any)
	id := u["id"].(string)
	for i, base := range bases {
		if s := call(t, "GET", base+"/api/test/mod", nil, "Authorization", "Bearer "+tok).status; s != 403 {
			t.Fatalf("instance %d: /api/test/mod before the promotion = %d", i, s)
		}
	}
	if r := call(t, "PATCH", a+"/api/users/"+id, map[string]any{"roles": []string{"user", "moderator"}}, "Authorization", "Bearer "+root); r.status != 200 {
		t.Fatalf("promote on A: %d %s", r.status, r.body)
	}
	for i, base := range bases {
		if s := call(t, "GET", base+"/api/test/mod", nil, "Authorization", "Bearer "+tok).status; s != 200 {
			t.Fatalf("instance %d: /api/test/mod after the promotion on A = %d", i, s)
		}
	}
	if r := call(t, "PATCH", b+"/api/users/"+id, map[string]any{"disabled": true}, "Authorization", "Bearer "+root); r.status != 200 {
		t.Fatalf("disable on B: %d %s", r.status, r.body)
	}
	everywhere("token of a user disabled on B", tok, 401)
	if r := call(t, "PATCH", b+"/api/users/"+id, map[string]any{"disabled": false}, "Authorization", "Bearer "+root); r.status != 200 {
		t.Fatalf("enable on B: %d %s", r.status, r.body)
	}
	t.Log("password change on C, promotion on A and disable on B are seen by all on the next request")

	// Key rotation: tokens minted on any instance keep working on all, before and after the new
	// key starts signing (two reload intervals after the rotation).
	oldKid := kid(t, access(login(a, "h60@example.com", pw)))
	rot := exec.Command(binary, "keys", "rotate")
	rot.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "PORTCULLIS_LOG_LEVEL=warn"}, env...)
	if out, err := rot.CombinedOutput(); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	newKid := oldKid
	checked := 0
	for i := 0; time.Now().Before(deadline); i++ {
		tok := access(login(bases[i%3], "h60@example.com", pw))
		everywhere("a token minted during the rotation", tok, 200)
		newKid = kid(t, tok)
		checked++
	}
	if newKid == oldKid {
		t.Fatalf("5s after the rotation tokens are still signed by %s", oldKid)
	}
	t.Logf("key rotation %s -> %s: %d tokens minted across the three during it, each accepted by all three", oldKid, newKid, checked)
	if !sharedLimits {
		return
	}

	// The throttling is shared: five failures spread over the three instances, and the sixth
	// attempt is refused on any of them, with the right password too.
	for i := range 5 {
		if r := login(bases[i%3], "h60@example.com", "wrong password!"); r.status != 401 {
			t.Fatalf("failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	for i, base := range bases {
		r := login(base, "h60@example.com", pw)
		if r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Fatalf("instance %d after 5 failures spread over three: %d %s, want 429 with Retry-After", i, r.status, r.body)
		}
	}
	t.Log("5 failed logins spread over A, B, C: the next login is 429 on every instance")

	// The address is throttled too, over all accounts: with the 5 failures above, 15 more for 15
	// other names (20 in all, RATE_LOGIN_IP's burst), spread over the three, and the 21st
	// attempt from this address is refused, for another account too.
	for i := range 15 {
		if r := login(bases[i%3], "nobody"+strconv.Itoa(i)+"@example.com", "wrong password!"); r.status != 401 {
			t.Fatalf("address failure %d: %d %s", i+1, r.status, r.body)
		}
	}
	if r := login(a, "root@example.com", outagePassword); r.status != 429 {
		t.Fatalf("after 20 failures from one address: %d %s, want 429", r.status, r.body)
	}
	t.Log("20 failed logins from one address over 16 names, spread over A, B, C: the 21st is 429, for any account")
}

// kid reads the key id from a JWT's protected header.
func kid(t *testing.T, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(jwt, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}
