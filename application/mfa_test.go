package application_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/jwxtoken"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// hookSessions runs beforeCreate before each session is stored: the window between a login's
// read of the user and its new session, in which another request changes the user.
type hookSessions struct {
	ports.SessionStore
	mu           sync.Mutex
	beforeCreate func()
	creates      int
}

func (h *hookSessions) Create(ctx context.Context, s domain.Session, now time.Time) error {
	h.mu.Lock()
	h.creates++
	hook := h.beforeCreate
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return h.SessionStore.Create(ctx, s, now)
}

// mfaWorld is the world with second factors: a password login of a user with TOTP answers
// with an mfa_token, which verify redeems. Its sessions pass through hooks.
type mfaWorld struct {
	*world
	hooks      *hookSessions
	challenges *memstore.Challenges
	passkeys   ports.Passkeys
	totpStore  ports.TOTPFactors
	codes      ports.RecoveryCodes
	factors    *application.SecondFactors
	login      *application.Login
	totp       *application.TOTPSetup
	verify     *application.MFAVerify
}

func newMFAWorld(t *testing.T) *mfaWorld {
	t.Helper()
	return newMFAWorldWith(t, nil, nil)
}

// newMFAWorldWith is newMFAWorld with logins and codes throttled by throttle (nil: not at all)
// and the TOTP factors kept in totp (nil: a memory store).
func newMFAWorldWith(t *testing.T, throttle *application.Throttle, totp ports.TOTPFactors) *mfaWorld {
	t.Helper()
	if totp == nil {
		totp = memstore.NewTOTPFactors()
	}
	w := &mfaWorld{world: newWorld(t), challenges: memstore.NewChallenges(), passkeys: memstore.NewPasskeys(),
		totpStore: totp, codes: memstore.NewRecoveryCodes()}
	w.hooks = &hookSessions{SessionStore: w.sessions}
	box, err := jwxtoken.NewSecretBox(make([]byte, jwxtoken.KeyEncryptionKeySize))
	if err != nil {
		t.Fatal(err)
	}
	ids := system.NewIDs()
	audit := application.NewAuditor(w.auditLog, w.clock, ids, discard())
	w.factors = application.NewSecondFactors(w.totpStore, w.codes, otp.New(), box,
		throttle, w.challenges, w.clock, w.settings)
	w.login = application.NewLogin(w.users, identity.New(), w.hooks, w.hasher, w.issuer, w.clock, ids, w.settings, throttle, audit, discard())
	w.login.UseSecondFactors(w.factors)
	w.totp = application.NewTOTPSetup(w.factors, w.users, w.sessions, w.hasher, w.clock, audit, discard())
	w.verify = application.NewMFAVerify(w.factors, w.users, w.hooks, w.issuer, ids, w.clock, w.settings, audit, discard())
	return w
}

// enrolled registers email with a confirmed TOTP authenticator and returns its id, its TOTP
// secret and its recovery codes.
func (w *mfaWorld) enrolled(t *testing.T, email string) (string, string, []string) {
	t.Helper()
	ctx := context.Background()
	w.registerAndLogin(t, email)
	u := mustUser(t, w.world, email)
	e, err := w.totp.Enrol(ctx, application.Principal{UserID: u.ID}, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, err := otp.Code(e.Secret, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := w.totp.Confirm(ctx, application.Principal{UserID: u.ID}, code)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, e.Secret, codes
}

// pending logs email in with the password and returns the mfa_token.
func (w *mfaWorld) pending(t *testing.T, email string) string {
	t.Helper()
	out, err := w.login.Handle(context.Background(), application.LoginInput{Identifier: email, Password: goodPassword})
	if err != nil || out.MFA == nil {
		t.Fatalf("password step = %+v, %v; want an mfa_token", out, err)
	}
	return out.MFA.Token
}

func (w *mfaWorld) liveSessions(t *testing.T, userID string) int {
	t.Helper()
	live, err := w.sessions.ListByUser(context.Background(), userID, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(live)
}

func (w *mfaWorld) setRoles(t *testing.T, userID string, roles ...domain.Role) {
	t.Helper()
	if _, err := w.admin.Update(context.Background(), application.Operator, userID, application.AdminUpdateInput{Roles: &roles}); err != nil {
		t.Errorf("concurrent role change: %v", err)
	}
}

func (w *mfaWorld) changePassword(t *testing.T, userID string) {
	t.Helper()
	err := w.password.Handle(context.Background(), application.ChangePasswordInput{UserID: userID,
		CurrentPassword: goodPassword, NewPassword: "another good passphrase"})
	if err != nil {
		t.Errorf("concurrent password change: %v", err)
	}
}

// A login whose account is disabled or deleted, or whose password changes, between the password
// and the second factor gets no session; so does one whose account is disabled while its
// session is being opened (after the second factor's re-read).
func TestMFAVerifyRefusesAUserChangedDuringTheLogin(t *testing.T) {
	cases := map[string]struct {
		between, duringOpen func(t *testing.T, w *mfaWorld, id string)
	}{
		"disabled before the second factor": {between: func(t *testing.T, w *mfaWorld, id string) { disable(t, w.world, id) }},
		"password changed before the second factor": {between: func(t *testing.T, w *mfaWorld, id string) {
			w.changePassword(t, id)
		}},
		"deleted before the second factor": {between: func(t *testing.T, w *mfaWorld, id string) {
			if err := w.admin.Delete(context.Background(), application.Operator, id); err != nil {
				t.Fatal(err)
			}
		}},
		"disabled while the session opens": {duringOpen: func(t *testing.T, w *mfaWorld, id string) { disable(t, w.world, id) }},
		"password changed while the session opens": {duringOpen: func(t *testing.T, w *mfaWorld, id string) {
			w.changePassword(t, id)
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := newMFAWorld(t)
			ctx := context.Background()
			id, _, codes := w.enrolled(t, "m@x.com")
			token := w.pending(t, "m@x.com")
			if c.between != nil {
				c.between(t, w, id)
			}
			w.hooks.beforeCreate = func() {
				w.hooks.beforeCreate = nil
				if c.duringOpen != nil {
					c.duringOpen(t, w, id)
				}
			}
			out, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]})
			if !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Fatalf("second factor = session %q, %v; want ErrInvalidCredentials", out.SessionID, err)
			}
			if n := w.liveSessions(t, id); n != 0 {
				t.Fatalf("%d live sessions after the refused login, want none", n)
			}
		})
	}
}

// A role change between the second factor's read of the user and its new session reaches the
// session, as for a password login (TestB_RoleChangeDuringLoginReachesTheNewSession); after
// three changes in a row the login fails with domain.ErrStale and leaves no session.
func TestMFAVerifyRoleChangeDuringTheLogin(t *testing.T) {
	t.Run("once", func(t *testing.T) {
		w := newMFAWorld(t)
		ctx := context.Background()
		id, _, codes := w.enrolled(t, "r@x.com")
		token := w.pending(t, "r@x.com")
		before := w.liveSessions(t, id)
		w.hooks.beforeCreate = func() {
			w.hooks.beforeCreate = nil
			w.setRoles(t, id, domain.RoleUser, domain.RoleModerator)
		}
		out, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]})
		if err != nil {
			t.Fatalf("second factor: %v", err)
		}
		if p := mustAuth(t, w.world, out.AccessToken); !p.HasRole(domain.RoleModerator) {
			t.Fatalf("the new session has roles %v, want the moderator role granted during the login", p.Roles)
		}
		if out.User == nil || len(out.User.Roles) != 2 {
			t.Fatalf("the login's user view %+v, want the current roles", out.User)
		}
		if n := w.liveSessions(t, id); n != before+1 { // the stale session was deleted
			t.Fatalf("%d live sessions, want %d", n, before+1)
		}
	})
	t.Run("three times", func(t *testing.T) {
		w := newMFAWorld(t)
		ctx := context.Background()
		id, _, codes := w.enrolled(t, "s@x.com")
		token := w.pending(t, "s@x.com")
		before := w.liveSessions(t, id)
		flip := false
		w.hooks.beforeCreate = func() {
			if flip = !flip; flip {
				w.setRoles(t, id, domain.RoleUser, domain.RoleModerator)
			} else {
				w.setRoles(t, id, domain.RoleUser)
			}
		}
		_, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]})
		if !errors.Is(err, domain.ErrStale) {
			t.Fatalf("second factor with the roles changing at every session = %v, want ErrStale", err)
		}
		if w.hooks.creates != 3 {
			t.Fatalf("%d sessions opened, want 3", w.hooks.creates)
		}
		if n := w.liveSessions(t, id); n != before {
			t.Fatalf("%d live sessions, want the %d from before the login", n, before)
		}
	})
}

// stubRP is a relying party whose login ceremonies begin with fixed options; nothing else of
// it is used here.
type stubRP struct{ ports.WebAuthn }

func (stubRP) BeginLogin(*ports.PasskeyUser, []domain.Passkey) ([]byte, []byte, error) {
	return []byte(`{"challenge":"x"}`), []byte(`{"state":"x"}`), nil
}

// hookChallenges runs onMFA once, after the first read (Get or Take) of a pending login, and
// makes every Put of a pending login fail when failPut is set (a store that went away between
// two calls).
type hookChallenges struct {
	ports.Challenges
	onMFA   func()
	failPut bool
}

func (h *hookChallenges) read(purpose domain.ChallengePurpose) {
	if hook := h.onMFA; purpose == domain.ChallengeMFA && hook != nil {
		h.onMFA = nil
		hook()
	}
}

func (h *hookChallenges) Take(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	c, err := h.Challenges.Take(ctx, hash, purpose, now)
	h.read(purpose)
	return c, err
}

func (h *hookChallenges) Get(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error) {
	c, err := h.Challenges.Get(ctx, hash, purpose, now)
	h.read(purpose)
	return c, err
}

func (h *hookChallenges) Put(ctx context.Context, c domain.Challenge) error {
	if h.failPut && c.Purpose == domain.ChallengeMFA {
		return domain.ErrUnavailable
	}
	return h.Challenges.Put(ctx, c)
}

// withPasskeys makes passkeys second factors of w, through pending (over w's challenge store),
// and gives userID a passkey.
func (w *mfaWorld) withPasskeys(t *testing.T, pending ports.Challenges, userID string) *application.Passkeys {
	t.Helper()
	p := application.NewPasskeys(w.factors, w.passkeys, stubRP{}, pending, w.users, w.sessions, w.hasher, w.issuer, system.NewIDs(),
		w.clock, w.settings, nil, discard())
	w.factors.UsePasskeys(p)
	if err := w.passkeys.Add(context.Background(), domain.Passkey{ID: "pk-" + userID, UserID: userID, CredentialID: []byte("cred-" + userID),
		Name: "key", Credential: []byte("{}"), CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return p
}

// Beginning a passkey as the second factor reads the pending login without spending it: a
// verification with a code at the same moment succeeds, and a store failing to write it back
// loses nothing.
func TestPasskeySecondFactorBeginLeavesTheMFAToken(t *testing.T) {
	t.Run("a code verified meanwhile", func(t *testing.T) {
		w := newMFAWorld(t)
		ctx := context.Background()
		id, _, codes := w.enrolled(t, "p@x.com")
		hooked := &hookChallenges{Challenges: w.challenges}
		p := w.withPasskeys(t, hooked, id)
		token := w.pending(t, "p@x.com")
		var verified error
		hooked.onMFA = func() {
			_, verified = w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]})
		}
		if _, err := p.BeginSecondFactor(ctx, token); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if verified != nil {
			t.Fatalf("a code verified while a passkey ceremony began = %v, want a session", verified)
		}
	})
	t.Run("the store fails meanwhile", func(t *testing.T) {
		w := newMFAWorld(t)
		ctx := context.Background()
		id, _, codes := w.enrolled(t, "q@x.com")
		hooked := &hookChallenges{Challenges: w.challenges, failPut: true}
		p := w.withPasskeys(t, hooked, id)
		token := w.pending(t, "q@x.com")
		if _, err := p.BeginSecondFactor(ctx, token); err != nil {
			t.Fatalf("begin: %v", err)
		}
		if _, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]}); err != nil {
			t.Fatalf("the mfa_token after a passkey begin = %v, want a session", err)
		}
	})
}

// countingPasskeys counts the loads of a user's whole passkey list.
type countingPasskeys struct {
	ports.Passkeys
	mu     sync.Mutex
	byUser int
}

func (c *countingPasskeys) ByUser(ctx context.Context, userID string) ([]domain.Passkey, error) {
	c.mu.Lock()
	c.byUser++
	c.mu.Unlock()
	return c.Passkeys.ByUser(ctx, userID)
}

// Whether a user has a passkey, asked at every password login of a user with a second factor,
// is one existence query: the passkeys themselves are not loaded.
func TestLoginAsksWhetherAPasskeyExistsWithoutLoadingThem(t *testing.T) {
	w := newMFAWorld(t)
	ctx := context.Background()
	id, _, _ := w.enrolled(t, "e@x.com")
	store := &countingPasskeys{Passkeys: w.passkeys}
	w.passkeys = store
	w.withPasskeys(t, w.challenges, id)
	out, err := w.login.Handle(ctx, application.LoginInput{Identifier: "e@x.com", Password: goodPassword})
	if err != nil || out.MFA == nil {
		t.Fatalf("password step = %+v, %v; want an mfa_token", out, err)
	}
	if !slices.Contains(out.MFA.Methods, application.MethodPasskey) {
		t.Fatalf("methods %v, want passkey among them", out.MFA.Methods)
	}
	methods, err := w.factors.Methods(ctx, "someone-without-passkeys")
	if err != nil || slices.Contains(methods, application.MethodPasskey) {
		t.Fatalf("methods of a user without passkeys = %v, %v", methods, err)
	}
	if store.byUser != 0 {
		t.Fatalf("the login loaded the user's passkeys %d times, want an existence query", store.byUser)
	}
}

// gate, once armed, holds each caller of wait until want of them wait together (or a while has
// passed): the moment at which concurrent guesses have all passed the throttle and none has yet
// counted its failure.
type gate struct {
	mu      sync.Mutex
	want    int
	arrived int
	open    chan struct{}
}

func (g *gate) arm(want int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.want, g.arrived, g.open = want, 0, make(chan struct{})
}

func (g *gate) wait() {
	g.mu.Lock()
	open := g.open
	if open != nil {
		if g.arrived++; g.arrived == g.want {
			close(open)
		}
	}
	g.mu.Unlock()
	if open != nil {
		select {
		case <-open:
		case <-time.After(300 * time.Millisecond): // fewer came: they were refused before the check
		}
	}
}

// gatedTOTP holds every TOTP lookup at its gate: where a code is about to be checked.
type gatedTOTP struct {
	ports.TOTPFactors
	gate
}

func (g *gatedTOTP) Get(ctx context.Context, userID string) (domain.TOTPFactor, error) {
	g.wait()
	return g.TOTPFactors.Get(ctx, userID)
}

// guessingWorld is the world with second factors throttled by testLimits and TOTP lookups held
// by a gate, and m@x.com enrolled: it returns the user's id and a wrong code.
func guessingWorld(t *testing.T) (*mfaWorld, *gatedTOTP, application.Limits, string, string) {
	t.Helper()
	limits := testLimits()
	gate := &gatedTOTP{TOTPFactors: memstore.NewTOTPFactors()}
	throttle := application.NewThrottle(memstore.NewRateLimiter(nil), limits, discard())
	w := newMFAWorldWith(t, throttle, gate)
	id, secret, _ := w.enrolled(t, "m@x.com")
	wrong, err := otp.Code(secret, w.clock.Now().Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return w, gate, limits, id, wrong
}

// SECURITY I63: wrong codes are throttled like wrong passwords even when they come at once. Whoever
// knows the password holds as many mfa_tokens as they like; guesses sent together, one per token
// and from many addresses, must not all pass the throttle before the first failure is counted, or
// each soft lock would let through as many guesses as one burst of requests carries. No more codes
// are checked than the account's limit allows, and the rest are refused with domain.ErrThrottled.
func TestI63_ConcurrentWrongCodesAreThrottled(t *testing.T) {
	w, gate, limits, _, wrong := guessingWorld(t)
	tokens := make([]string, 12)
	for i := range tokens {
		tokens[i] = w.pending(t, "m@x.com")
	}
	gate.arm(len(tokens))
	errs := make([]error, len(tokens))
	var wg sync.WaitGroup
	for i, token := range tokens {
		wg.Go(func() {
			ctx := from(fmt.Sprintf("198.51.100.%d", i+1))
			_, errs[i] = w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: token, Code: wrong})
		})
	}
	wg.Wait()
	checked, throttled := 0, 0
	for i, err := range errs {
		switch {
		case errors.Is(err, application.ErrInvalidCode):
			checked++
		case errors.Is(err, domain.ErrThrottled):
			throttled++
		default:
			t.Errorf("guess %d: %v, want ErrInvalidCode or ErrThrottled", i, err)
		}
	}
	if checked > limits.LoginAccount.Burst || checked+throttled != len(tokens) {
		t.Fatalf("%d of %d concurrent wrong codes were checked (%d throttled), want at most %d",
			checked, len(tokens), throttled, limits.LoginAccount.Burst)
	}
}

// SECURITY I63, for removing the authenticator: the password is not enough to guess the code
// faster. Whoever holds a session and the password, sending removals together each with another
// guess, gets no more codes checked than the account's limit allows; the rest are refused with
// domain.ErrThrottled, and the authenticator stays.
func TestI63_ConcurrentRemovalGuessesAreThrottled(t *testing.T) {
	w, gate, limits, id, wrong := guessingWorld(t)
	const guesses = 8
	gate.arm(guesses)
	errs := make([]error, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			ctx := from(fmt.Sprintf("198.51.100.%d", i+1))
			errs[i] = w.totp.Disable(ctx, id, "", goodPassword, wrong)
		})
	}
	wg.Wait()
	checked := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, application.ErrInvalidCode):
			checked++
		case errors.Is(err, domain.ErrThrottled):
		default:
			t.Errorf("guess %d: %v, want ErrInvalidCode or ErrThrottled", i, err)
		}
	}
	if checked > limits.LoginAccount.Burst {
		t.Fatalf("%d of %d concurrent removals had their code checked, want at most %d", checked, guesses, limits.LoginAccount.Burst)
	}
	if st, err := w.totp.Status(context.Background(), id); err != nil || st.TOTP != "enabled" {
		t.Fatalf("status after the guesses: %+v, %v; want the authenticator enabled", st, err)
	}
}

// An administrator's removal of a user's factors (the lost or stolen authenticator) ends every
// session of the user, as the user's own removal of a factor ends the others: a session opened
// with the removed factor, by whoever holds the device now, must not outlive it. The password
// then logs in alone, and the removal is audited with the count.
func TestAdminFactorResetEndsTheUsersSessions(t *testing.T) {
	w := newMFAWorld(t)
	ctx := context.Background()
	id, _, codes := w.enrolled(t, "m@x.com")
	if _, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: w.pending(t, "m@x.com"), RecoveryCode: codes[0]}); err != nil {
		t.Fatal(err)
	}
	if n := w.liveSessions(t, id); n != 2 { // the enrolling one, and the one opened with the code
		t.Fatalf("%d live sessions before the reset, want 2", n)
	}
	if err := w.totp.Reset(ctx, application.Operator, id); err != nil {
		t.Fatal(err)
	}
	if n := w.liveSessions(t, id); n != 0 {
		t.Fatalf("%d live sessions after the administrator removed the factors, want none", n)
	}
	out, err := w.login.Handle(ctx, application.LoginInput{Identifier: "m@x.com", Password: goodPassword})
	if err != nil || out.MFA != nil || out.SessionID == "" {
		t.Fatalf("password login after the reset = %+v, %v; want a session", out, err)
	}
	recs, err := w.auditLog.List(ctx, domain.AuditQuery{Event: domain.EventMFAReset, Limit: 10})
	if err != nil || len(recs) != 1 || recs[0].SubjectID != id || !strings.Contains(recs[0].Detail, "sessions_revoked=2") {
		t.Fatalf("mfa_reset audit records %+v, %v; want one naming the 2 sessions revoked", recs, err)
	}
}

// hookTOTP runs beforeConfirm (once) before a pending factor is confirmed.
type hookTOTP struct {
	ports.TOTPFactors
	beforeConfirm func()
}

func (h *hookTOTP) Confirm(ctx context.Context, userID string, secret []byte, step int64, at time.Time) error {
	if f := h.beforeConfirm; f != nil {
		h.beforeConfirm = nil
		f()
	}
	return h.TOTPFactors.Confirm(ctx, userID, secret, step, at)
}

// A confirmation enables the authenticator whose code it checked, or none: an enrolment that
// replaces the pending secret meanwhile (a second tab, a double click) leaves the new secret
// pending, not confirmed by a code of the old one, which would lock its owner out with an
// authenticator app that holds the other secret.
func TestTOTPConfirmEnablesTheSecretItChecked(t *testing.T) {
	hook := &hookTOTP{TOTPFactors: memstore.NewTOTPFactors()}
	w := newMFAWorldWith(t, nil, hook)
	ctx := context.Background()
	w.registerAndLogin(t, "m@x.com")
	me := application.Principal{UserID: mustUser(t, w.world, "m@x.com").ID}
	first, err := w.totp.Enrol(ctx, me, goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, err := otp.Code(first.Secret, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var second application.TOTPEnrolment
	hook.beforeConfirm = func() {
		if second, err = w.totp.Enrol(ctx, me, goodPassword); err != nil {
			t.Error(err)
		}
	}
	if codes, err := w.totp.Confirm(ctx, me, code); !errors.Is(err, application.ErrNoTOTP) {
		t.Fatalf("confirm with the replaced secret's code = %d codes, %v; want ErrNoTOTP", len(codes), err)
	}
	if st, err := w.totp.Status(ctx, me.UserID); err != nil || st.TOTP != "pending" {
		t.Fatalf("status = %+v, %v; want the new secret still pending", st, err)
	}
	// The new secret's own code confirms it.
	code, err = otp.Code(second.Secret, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.totp.Confirm(ctx, me, code); err != nil {
		t.Fatalf("confirm with the new secret's code: %v", err)
	}
}
