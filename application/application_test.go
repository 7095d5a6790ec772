package application_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// clock is a settable clock shared by the use cases and the memory stores.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// world is the application over the memory adapters, the real hasher and the real token adapter.
type world struct {
	clock       *clock
	users       *memstore.Users
	sessions    ports.SessionStore
	memSessions *memstore.Sessions
	hasher      *password.Hasher
	issuer      *jwxtoken.Tokens
	settings    application.Settings

	register *application.Register
	login    *application.Login
	refresh  *application.Refresh
	logout   *application.Logout
	auth     *application.Authenticate
	profile  *application.Profile
	password *application.ChangePassword
	mine     *application.Sessions
	auditLog *memstore.AuditLog
	admin    *application.Admin
	trail    *application.AuditTrail
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWith(t, nil)
}

// newWorldWith builds the world over sessions, or over the memory session store when nil.
func newWorldWith(t testing.TB, sessions ports.SessionStore) *world {
	t.Helper()
	w := &world{clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	w.users = memstore.NewUsers()
	w.memSessions = memstore.NewSessions()
	w.sessions = w.memSessions
	if sessions != nil {
		w.sessions = sessions
	}
	var err error
	if w.hasher, err = password.New(password.Params{}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens, err := jwxtoken.New(jwxtoken.Config{Alg: "EdDSA", Issuer: "https://auth.test", Audience: "test",
		AccessTTL: 15 * time.Minute, Leeway: 30 * time.Second, KeyEncryptionKey: make([]byte, 32),
		ReloadInterval: 30 * time.Second, CacheSize: 8192},
		memstore.NewKeys(), w.clock, log)
	if err != nil {
		t.Fatal(err)
	}
	w.issuer = tokens
	w.settings = application.Settings{AccessTTL: 15 * time.Minute, SessionIdle: 7 * 24 * time.Hour,
		SessionAbsolute: 30 * 24 * time.Hour, RefreshGrace: 10 * time.Second, Strict: true}
	ids := system.NewIDs()
	w.auditLog = memstore.NewAuditLog()
	audit := application.NewAuditor(w.auditLog, w.clock, ids, log)
	w.register = application.NewRegister(w.users, identity.New(), w.hasher, w.clock, ids, audit, nil, log)
	w.login = application.NewLogin(w.users, identity.New(), w.sessions, w.hasher, tokens, w.clock, ids, w.settings, nil, audit, log)
	w.refresh = application.NewRefresh(w.sessions, tokens, w.clock, ids, w.settings, audit, log)
	w.auth = application.NewAuthenticate(tokens, w.sessions, w.clock, w.settings)
	w.logout = application.NewLogout(w.sessions, w.auth, w.clock, audit, log)
	w.profile = application.NewProfile(w.users, identity.New(), w.clock)
	w.password = application.NewChangePassword(w.users, w.sessions, w.hasher, w.clock, nil, audit, nil, nil, log)
	w.mine = application.NewSessions(w.sessions, w.clock, audit)
	w.admin = application.NewAdmin(w.users, w.users, w.sessions, w.register, audit, w.clock, nil, log)
	w.trail = application.NewAuditTrail(w.auditLog)
	return w
}

const goodPassword = "correct horse battery"

func (w *world) registerAndLogin(t testing.TB, email string) application.TokensOutput {
	t.Helper()
	ctx := context.Background()
	if _, err := w.register.Handle(ctx, application.RegisterInput{Email: email, Password: goodPassword}); err != nil {
		t.Fatalf("register: %v", err)
	}
	out, err := w.login.Handle(ctx, application.LoginInput{Identifier: email, Password: goodPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return out
}

func fieldCodes(err error) map[string]string {
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	m := map[string]string{}
	for _, f := range v.Fields {
		m[f.Field] = f.Code
	}
	return m
}

func TestRegisterValidation(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name  string
		in    application.RegisterInput
		field string
		code  string
	}{
		{"short password", application.RegisterInput{Email: "a@x.com", Password: "seven77"}, "password", "password_too_short"},
		{"long password", application.RegisterInput{Email: "a@x.com", Password: string(make([]rune, 129))}, "password", "password_too_long"},
		{"common password", application.RegisterInput{Email: "a@x.com", Password: "password1"}, "password", "password_too_common"},
		{"bad email", application.RegisterInput{Email: "not-an-email", Password: goodPassword}, "email", "invalid_email"},
		{"display-name email", application.RegisterInput{Email: "Ada <a@x.com>", Password: goodPassword}, "email", "invalid_email"},
		{"bad username", application.RegisterInput{Email: "a@x.com", Password: goodPassword, Username: "A B"}, "username", "invalid_username"},
		{"control chars in name", application.RegisterInput{Email: "a@x.com", Password: goodPassword, Name: "a\x00b"}, "name", "invalid_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.register.Handle(context.Background(), tc.in)
			if got := fieldCodes(err)[tc.field]; got != tc.code {
				t.Fatalf("field %s: got code %q (err %v), want %q", tc.field, got, err, tc.code)
			}
		})
	}
	if _, err := w.users.ByEmail(context.Background(), "a@x.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an invalid registration stored a user: %v", err)
	}
}

func TestRegisterAcceptsUnicodeAndGrantsUserOnly(t *testing.T) {
	w := newWorld(t)
	out, err := w.register.Handle(context.Background(), application.RegisterInput{
		Email: "  Ada@Example.COM ", Password: "pässwörd mit 🦄 emoji", Username: "Ada.L", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	u := out.User
	if u.Email != "ada@example.com" || u.Username != "ada.l" || len(u.Roles) != 1 || u.Roles[0] != domain.RoleUser || u.EmailVerified {
		t.Fatalf("unexpected user %+v", u)
	}
	_, err = w.register.Handle(context.Background(), application.RegisterInput{Email: "ADA@example.com", Password: goodPassword})
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("same email in other case: got %v, want ErrConflict", err)
	}
}

func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "known@x.com")
	disabled := w.registerAndLogin(t, "disabled@x.com")
	u, _ := w.users.ByEmail(ctx, "disabled@x.com")
	u.Disabled = true
	if _, err := w.users.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	_ = disabled
	for name, in := range map[string]application.LoginInput{
		"unknown":  {Identifier: "nobody@x.com", Password: goodPassword},
		"wrong":    {Identifier: "known@x.com", Password: "wrong password!"},
		"disabled": {Identifier: "disabled@x.com", Password: goodPassword},
		"garbage":  {Identifier: "%%%", Password: goodPassword},
	} {
		if _, err := w.login.Handle(ctx, in); err != domain.ErrInvalidCredentials {
			t.Errorf("%s: got %v, want exactly ErrInvalidCredentials", name, err)
		}
	}
}

func TestLoginByUsernameOnlyExactPassword(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	pw := "  spaces and 🦄 "
	if _, err := w.register.Handle(ctx, application.RegisterInput{Email: "u@x.com", Password: pw, Username: "ada"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "ADA", Password: pw}); err != nil {
		t.Fatalf("login by username: %v", err)
	}
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "ada", Password: "spaces and 🦄"}); err != domain.ErrInvalidCredentials {
		t.Fatalf("trimmed password logged in: %v", err)
	}
}

func TestA4_LoginUpgradesBcryptHash(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "old@x.com")
	u, _ := w.users.ByEmail(ctx, "old@x.com")
	h, _ := bcrypt.GenerateFromPassword([]byte(goodPassword), 10)
	u.PasswordHash = string(h)
	_, _ = w.users.Update(ctx, u)
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "old@x.com", Password: goodPassword}); err != nil {
		t.Fatalf("bcrypt login: %v", err)
	}
	u, _ = w.users.ByEmail(ctx, "old@x.com")
	if len(u.PasswordHash) < 10 || u.PasswordHash[:10] != "$argon2id$" {
		t.Fatalf("hash not upgraded: %q", u.PasswordHash)
	}
}

// TestA4_LoginRehashesWithRaisedParameters: after the operator raises the argon2id cost, a
// login rewrites the stored hash with the new parameters.
func TestA4_LoginRehashesWithRaisedParameters(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "cost@x.com")
	stronger, err := password.New(password.Params{Memory: 24576, Time: 3})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	login := application.NewLogin(w.users, identity.New(), w.sessions, stronger, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, log)
	if _, err := login.Handle(ctx, application.LoginInput{Identifier: "cost@x.com", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	u, _ := w.users.ByEmail(ctx, "cost@x.com")
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=24576,t=3,p=1$") {
		t.Fatalf("hash not rewritten with the raised parameters: %q", u.PasswordHash)
	}
	if _, err := login.Handle(ctx, application.LoginInput{Identifier: "cost@x.com", Password: goodPassword}); err != nil {
		t.Fatalf("login with the rewritten hash: %v", err)
	}
}

func TestEachLoginIsANewSession(t *testing.T) {
	w := newWorld(t)
	a := w.registerAndLogin(t, "s@x.com")
	b, err := w.login.Handle(context.Background(), application.LoginInput{Identifier: "s@x.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if a.SessionID == b.SessionID || a.RefreshToken == b.RefreshToken {
		t.Fatal("two logins share a session or refresh token")
	}
}

func TestRefreshRotationGraceAndReuse(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t1 := w.registerAndLogin(t, "r@x.com")

	t2, err := w.refresh.Handle(ctx, t1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t2.RefreshToken == t1.RefreshToken || t2.SessionID != t1.SessionID || t2.AccessToken == "" {
		t.Fatalf("refresh did not rotate: %+v", t2)
	}
	w.clock.Advance(5 * time.Second)
	again, err := w.refresh.Handle(ctx, t1.RefreshToken)
	if err != nil || again.RefreshToken != t2.RefreshToken {
		t.Fatalf("grace replay: got %q, %v; want the same successor", again.RefreshToken, err)
	}
	w.clock.Advance(6 * time.Second)
	if _, err := w.refresh.Handle(ctx, t1.RefreshToken); !errors.Is(err, domain.ErrRefreshReuse) {
		t.Fatalf("replay after grace: got %v, want ErrRefreshReuse", err)
	}
	if _, err := w.refresh.Handle(ctx, t2.RefreshToken); err == nil {
		t.Fatal("the session survived a reuse")
	}
	if _, err := w.auth.Handle(ctx, t2.AccessToken); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("access token of a revoked session: got %v", err)
	}
}

func TestRefreshTwoGenerationsOldRevokes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	t1 := w.registerAndLogin(t, "g@x.com")
	t2, _ := w.refresh.Handle(ctx, t1.RefreshToken)
	t3, err := w.refresh.Handle(ctx, t2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.refresh.Handle(ctx, t1.RefreshToken); !errors.Is(err, domain.ErrRefreshReuse) {
		t.Fatalf("two generations old within grace: got %v, want reuse", err)
	}
	if _, err := w.refresh.Handle(ctx, t3.RefreshToken); err == nil {
		t.Fatal("session survived")
	}
}

func TestD34_RefreshLimits(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		w := newWorld(t)
		tok := w.registerAndLogin(t, "i@x.com")
		w.clock.Advance(w.settings.SessionIdle + time.Second)
		if _, err := w.refresh.Handle(context.Background(), tok.RefreshToken); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		w := newWorld(t)
		tok := w.registerAndLogin(t, "a@x.com")
		for i := 0; i < 6; i++ { // keep it fresh: refresh every 6 days, for 36 days
			w.clock.Advance(6 * 24 * time.Hour)
			next, err := w.refresh.Handle(context.Background(), tok.RefreshToken)
			if i < 4 && err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if i == 5 && err == nil {
				t.Fatal("refresh past the absolute limit succeeded")
			}
			if err == nil {
				tok = next
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		w := newWorld(t)
		for _, tok := range []string{"", "x", "abc.def", "a.b.c", string(make([]byte, 5000))} {
			if _, err := w.refresh.Handle(context.Background(), tok); !errors.Is(err, domain.ErrUnauthenticated) {
				t.Fatalf("%q: got %v", tok, err)
			}
		}
	})
}

func TestConcurrentRefreshOneRotation(t *testing.T) {
	w := newWorld(t)
	t1 := w.registerAndLogin(t, "c@x.com")
	var wg sync.WaitGroup
	results := make([]string, 50)
	errs := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := w.refresh.Handle(context.Background(), t1.RefreshToken)
			results[i], errs[i] = out.RefreshToken, err
		}(i)
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("caller %d: %q %v; want all the same successor", i, results[i], errs[i])
		}
	}
	if _, err := w.refresh.Handle(context.Background(), results[0]); err != nil {
		t.Fatalf("the session did not survive: %v", err)
	}
}

func TestAuthenticateStrict(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.registerAndLogin(t, "a@x.com")
	p, err := w.auth.Handle(ctx, tok.AccessToken)
	if err != nil || p.SessionID != tok.SessionID || !p.HasRole(domain.RoleUser) {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	// Roles come from the live session, not the token.
	if err := w.sessions.SetRoles(ctx, p.UserID, []domain.Role{domain.RoleUser, domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if p, _ = w.auth.Handle(ctx, tok.AccessToken); !p.HasRole(domain.RoleAdmin) {
		t.Fatal("session roles not used")
	}
	if err := w.logout.Session(ctx, p.UserID, tok.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, tok.AccessToken); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("after logout: %v", err)
	}
	if err := w.logout.Session(ctx, p.UserID, tok.SessionID); err != nil {
		t.Fatalf("logout is not idempotent: %v", err)
	}
}

func TestLogoutByRefreshTokenNeedsTheSecret(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tok := w.registerAndLogin(t, "l@x.com")
	forged := tok.SessionID + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if err := w.logout.ByRefreshToken(ctx, forged); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, tok.AccessToken); err != nil {
		t.Fatalf("a forged refresh token ended the session: %v", err)
	}
	if err := w.logout.ByRefreshToken(ctx, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, tok.AccessToken); err == nil {
		t.Fatal("logout by refresh token did not end the session")
	}
}

func TestChangePassword(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	current := w.registerAndLogin(t, "p@x.com")
	other, _ := w.login.Handle(ctx, application.LoginInput{Identifier: "p@x.com", Password: goodPassword})
	before, _ := w.users.ByID(ctx, mustAuth(t, w, current.AccessToken).UserID)

	err := w.password.Handle(ctx, application.ChangePasswordInput{UserID: before.ID, SessionID: current.SessionID,
		CurrentPassword: "wrong password", NewPassword: "another good passphrase"})
	if err != domain.ErrInvalidCredentials {
		t.Fatalf("wrong current password: %v", err)
	}
	if after, _ := w.users.ByID(ctx, before.ID); after.PasswordHash != before.PasswordHash {
		t.Fatal("a refused change altered the hash")
	}
	if _, err := w.auth.Handle(ctx, other.AccessToken); err != nil {
		t.Fatal("a refused change revoked a session")
	}
	err = w.password.Handle(ctx, application.ChangePasswordInput{UserID: before.ID, SessionID: current.SessionID,
		CurrentPassword: goodPassword, NewPassword: "another good passphrase"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, other.AccessToken); err == nil {
		t.Fatal("other session survived a password change")
	}
	if _, err := w.auth.Handle(ctx, current.AccessToken); err != nil {
		t.Fatalf("current session did not survive: %v", err)
	}
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "p@x.com", Password: "another good passphrase"}); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func TestSessionsListAndRevokeOwnOnly(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a := w.registerAndLogin(t, "a@x.com")
	a2, _ := w.login.Handle(ctx, application.LoginInput{Identifier: "a@x.com", Password: goodPassword})
	b := w.registerAndLogin(t, "b@x.com")
	pa := mustAuth(t, w, a.AccessToken)
	list, err := w.mine.List(ctx, pa.UserID, a.SessionID)
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	current := 0
	for _, s := range list {
		if s.Current {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("%d sessions marked current", current)
	}
	if err := w.mine.Revoke(ctx, pa.UserID, b.SessionID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("revoking another user's session: %v", err)
	}
	if _, err := w.auth.Handle(ctx, b.AccessToken); err != nil {
		t.Fatal("another user's session was revoked")
	}
	if err := w.mine.Revoke(ctx, pa.UserID, a2.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, a2.AccessToken); err == nil {
		t.Fatal("revoked session still works")
	}
}

func TestProfileUpdate(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a := w.registerAndLogin(t, "a@x.com")
	w.registerAndLogin(t, "b@x.com")
	pb, _ := w.users.ByEmail(ctx, "b@x.com")
	name, uname := "Ada", "ada"
	pa := mustAuth(t, w, a.AccessToken)
	out, err := w.profile.Update(ctx, pa.UserID, application.UpdateProfileInput{Name: &name, Username: &uname})
	if err != nil || out.User.Name != "Ada" || out.User.Username != "ada" {
		t.Fatalf("update: %+v %v", out, err)
	}
	if _, err := w.profile.Update(ctx, pb.ID, application.UpdateProfileInput{Username: &uname}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("taken username: %v", err)
	}
}

func mustAuth(t *testing.T, w *world, token string) application.Principal {
	t.Helper()
	p, err := w.auth.Handle(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLogoutHandle(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a := w.registerAndLogin(t, "out@x.com")
	b, _ := w.login.Handle(ctx, application.LoginInput{Identifier: "out@x.com", Password: goodPassword})
	// Garbage ends nothing and is not an error.
	for _, in := range []application.LogoutInput{{}, {AccessToken: "x.y.z"}, {RefreshToken: "nope"}} {
		if p, err := w.logout.Handle(ctx, in); err != nil || p.UserID != "" {
			t.Fatalf("%+v: %+v %v", in, p, err)
		}
	}
	mustAuth(t, w, a.AccessToken)
	// The access token ends its own session and names the caller.
	p, err := w.logout.Handle(ctx, application.LogoutInput{AccessToken: a.AccessToken})
	if err != nil || p.SessionID != a.SessionID {
		t.Fatalf("logout by access token: %+v %v", p, err)
	}
	if _, err := w.auth.Handle(ctx, a.AccessToken); err == nil {
		t.Fatal("the session survived its logout")
	}
	mustAuth(t, w, b.AccessToken)
	// The refresh token alone ends its session too.
	if _, err := w.logout.Handle(ctx, application.LogoutInput{RefreshToken: b.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, b.AccessToken); err == nil {
		t.Fatal("logout by refresh token left the session")
	}
}

// A login that says which kind of identifier it gives is looked up only that way: a username in
// the email field (or an email in the username field) names no account.
func TestLoginByKindOfIdentifier(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.register.Handle(ctx, application.RegisterInput{Email: "kind@x.com", Password: goodPassword, Username: "kind"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in application.LoginInput
		ok bool
	}{
		{application.LoginInput{Identifier: "kind@x.com", By: application.ByEmail}, true},
		{application.LoginInput{Identifier: "kind", By: application.ByUsername}, true},
		{application.LoginInput{Identifier: "kind", By: application.ByEmail}, false},
		{application.LoginInput{Identifier: "kind@x.com", By: application.ByUsername}, false},
		{application.LoginInput{Identifier: "kind"}, true},
		{application.LoginInput{Identifier: "kind@x.com"}, true},
	} {
		c.in.Password = goodPassword
		_, err := w.login.Handle(ctx, c.in)
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok=%v", c.in, err, c.ok)
		}
	}
}
