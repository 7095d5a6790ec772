package application_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// testLimits are small limits: 3 failures per account then one per 20 s, 5 per 15 min lock it
// for 15 min; 6 failures per address then one per 10 s.
func testLimits() application.Limits {
	return application.Limits{
		LoginAccount: ports.RateLimit{Burst: 3, Period: time.Minute},
		LoginIP:      ports.RateLimit{Burst: 6, Period: time.Minute},
		AccountLock:  ports.RateLimit{Burst: 5, Period: 15 * time.Minute},
		IPLock:       ports.RateLimit{Burst: 100, Period: 15 * time.Minute},
		LockFor:      15 * time.Minute,
	}
}

// throttledWorld is the world with its login and password change throttled by limits, on a
// memory limiter that reads the world's clock.
func throttledWorld(t *testing.T, limits application.Limits) (*world, *application.Locks) {
	t.Helper()
	return throttledWorldWith(t, limits, nil)
}

// throttledWorldWith is throttledWorld with the login and the password change checking
// passwords through hasher (the world's own when nil).
func throttledWorldWith(t *testing.T, limits application.Limits, hasher ports.PasswordHasher) (*world, *application.Locks) {
	t.Helper()
	w := newWorld(t)
	if hasher == nil {
		hasher = w.hasher
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	throttle := application.NewThrottle(memstore.NewRateLimiter(w.clock), limits, log)
	audit := application.NewAuditor(w.auditLog, w.clock, system.NewIDs(), log)
	w.login = application.NewLogin(w.users, identity.New(), w.sessions, hasher, w.issuer, w.clock, system.NewIDs(), w.settings, throttle, audit, log)
	w.password = application.NewChangePassword(w.users, w.sessions, hasher, w.clock, throttle, audit, nil, nil, log)
	return w, application.NewLocks(w.users, throttle, audit, log)
}

// gatedHasher holds every password check at its gate (see gate): where a password is about to
// be checked.
type gatedHasher struct {
	ports.PasswordHasher
	gate
}

func (g *gatedHasher) Verify(ctx context.Context, hash, password string) (bool, bool, error) {
	g.wait()
	return g.PasswordHasher.Verify(ctx, hash, password)
}

// Right passwords sent together are all answered: a right password takes nothing from the
// account's bucket, however many are in flight (a script's workers, or a user's devices,
// signing in to one account at once).
func TestB11_RightPasswordsSentTogetherAreAnswered(t *testing.T) {
	limits := testLimits()
	gated := &gatedHasher{}
	w, _ := throttledWorldWith(t, limits, gated)
	gated.PasswordHasher = w.hasher
	w.registerAndLogin(t, "owner@example.com")
	const logins = 8 // more than the bucket's 3
	gated.arm(logins)
	errs := make([]error, logins)
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() {
			errs[i] = loginAs(w, from(fmt.Sprintf("198.51.100.%d", i+1)), "owner@example.com", goodPassword)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("right password %d of %d sent together: %v", i+1, logins, err)
		}
	}
}

// A right password costs the account's bucket nothing: password confirmations, however many,
// leave it as the wrong guesses left it, and clear none of them.
func TestB11_RightPasswordsCostTheBucketNothing(t *testing.T) {
	w, _ := throttledWorld(t, testLimits())
	tok := w.registerAndLogin(t, "owner@example.com")
	u := mustUser(t, w, "owner@example.com")
	for range 2 {
		if err := loginAs(w, from("198.51.100.1"), "owner@example.com", "a wrong guess"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("wrong guess: %v", err)
		}
	}
	current, next := goodPassword, "a new pass phrase"
	for i := range 4 {
		if err := w.password.Handle(from("198.51.100.2"), application.ChangePasswordInput{UserID: u.ID, SessionID: tok.SessionID,
			CurrentPassword: current, NewPassword: next}); err != nil {
			t.Fatalf("password change %d with the right password: %v", i+1, err)
		}
		current, next = next, current
	}
	// The bucket (3) still holds one guess after the two wrong ones, and then none.
	if err := loginAs(w, from("198.51.100.1"), "owner@example.com", "a wrong guess"); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("third wrong guess: %v", err)
	}
	expectThrottled(t, loginAs(w, from("198.51.100.1"), "owner@example.com", current), 20*time.Second)
}

// SECURITY B11, for guesses sent together: a password check waits for the hash queue, so a
// burst of logins, or of password confirmations from a stolen session, would all be in flight
// before the first failure is counted, and each soft lock would let through as many guesses as
// one burst carries. A wrong password is answered only once it has taken its attempt from the
// account's bucket: of guesses sent together, from many addresses, no more are answered as wrong
// than the bucket holds, and the rest are refused with domain.ErrThrottled.
func TestB11_ConcurrentWrongPasswordsAreThrottled(t *testing.T) {
	for _, route := range []string{"login", "change password"} {
		t.Run(route, func(t *testing.T) {
			limits := testLimits()
			gated := &gatedHasher{}
			w, _ := throttledWorldWith(t, limits, gated)
			gated.PasswordHasher = w.hasher
			tok := w.registerAndLogin(t, "owner@example.com")
			u := mustUser(t, w, "owner@example.com")
			guess := func(ctx context.Context, pw string) error {
				if route == "login" {
					return loginAs(w, ctx, "owner@example.com", pw)
				}
				return w.password.Handle(ctx, application.ChangePasswordInput{UserID: u.ID, SessionID: tok.SessionID,
					CurrentPassword: pw, NewPassword: "a new pass phrase"})
			}
			const guesses = 8
			gated.arm(guesses)
			errs := make([]error, guesses)
			var wg sync.WaitGroup
			for i := range guesses {
				wg.Go(func() { errs[i] = guess(from(fmt.Sprintf("198.51.100.%d", i+1)), fmt.Sprintf("wrong guess %d", i)) })
			}
			wg.Wait()
			checked := 0
			for i, err := range errs {
				switch {
				case errors.Is(err, domain.ErrInvalidCredentials):
					checked++
				case !errors.Is(err, domain.ErrThrottled):
					t.Errorf("guess %d: %v, want ErrInvalidCredentials or ErrThrottled", i, err)
				}
			}
			if checked > limits.LoginAccount.Burst {
				t.Fatalf("%d of %d concurrent wrong passwords were answered as wrong, want at most %d", checked, guesses, limits.LoginAccount.Burst)
			}
			if stored := mustUser(t, w, "owner@example.com"); stored.PasswordHash != u.PasswordHash {
				t.Fatal("a refused guess changed the password")
			}
		})
	}
}

func from(ip string) context.Context {
	return application.WithRequestInfo(context.Background(), application.RequestInfo{IP: ip})
}

func loginAs(w *world, ctx context.Context, email, pw string) error {
	_, err := w.login.Handle(ctx, application.LoginInput{Identifier: email, Password: pw})
	return err
}

// expectThrottled checks that err is a 429-to-be waiting about want (within a second).
func expectThrottled(t *testing.T, err error, want time.Duration) {
	t.Helper()
	var te *domain.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, domain.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if te.RetryAfter <= want-time.Second || te.RetryAfter > want {
		t.Fatalf("retry after %v, want about %v", te.RetryAfter, want)
	}
}

// SECURITY B11, account side: failures on one account from many addresses meet a growing delay
// and then a soft lock that ends by itself, refuse even the right password meanwhile, and an
// administrator's unlock lifts at once.
func TestB11_AccountThrottledThenSoftLocked(t *testing.T) {
	w, locks := throttledWorld(t, testLimits())
	w.registerAndLogin(t, "owner@example.com")
	u, _ := w.users.ByEmail(context.Background(), "owner@example.com")
	for i := range 3 {
		if err := loginAs(w, from("198.51.100."+string(rune('1'+i))), "owner@example.com", "wrong password!"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	// The growing delay's first step: one attempt per 20 s, whatever the address and password.
	expectThrottled(t, loginAs(w, from("203.0.113.50"), "owner@example.com", goodPassword), 20*time.Second)
	for range 2 {
		w.clock.Advance(20 * time.Second)
		if err := loginAs(w, from("203.0.113.51"), "owner@example.com", "wrong password!"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("failure after the delay: %v", err)
		}
	}
	// Five failures within 15 minutes: the soft lock.
	expectThrottled(t, loginAs(w, from("203.0.113.52"), "owner@example.com", goodPassword), 15*time.Minute)
	st, err := locks.Status(context.Background(), application.Operator, u.ID)
	if err != nil || !st.Locked {
		t.Fatalf("status = %+v, %v; want locked", st, err)
	}
	w.clock.Advance(10 * time.Minute)
	expectThrottled(t, loginAs(w, from("203.0.113.53"), "owner@example.com", goodPassword), 5*time.Minute)
	// Not permanent: it ends by itself.
	w.clock.Advance(5 * time.Minute)
	if err := loginAs(w, from("203.0.113.54"), "owner@example.com", goodPassword); err != nil {
		t.Fatalf("login after the lock ended: %v", err)
	}

	// Lock it again; a moderator may look but not unlock; an admin's unlock lifts it at once.
	for i := 0; i < 5; i++ {
		w.clock.Advance(20 * time.Second)
		_ = loginAs(w, from("203.0.113.60"), "owner@example.com", "wrong password!")
	}
	expectThrottled(t, loginAs(w, from("203.0.113.61"), "owner@example.com", goodPassword), 15*time.Minute)
	mod := application.Principal{UserID: "mod", Roles: []domain.Role{domain.RoleModerator}}
	if _, err := locks.Unlock(context.Background(), mod, u.ID); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("moderator unlock: %v, want ErrForbidden", err)
	}
	if _, err := locks.Status(context.Background(), mod, u.ID); err != nil {
		t.Fatalf("moderator status: %v", err)
	}
	was, err := locks.Unlock(context.Background(), application.Operator, u.ID)
	if err != nil || !was.Locked {
		t.Fatalf("unlock = %+v, %v; want it was locked", was, err)
	}
	if err := loginAs(w, from("203.0.113.62"), "owner@example.com", goodPassword); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	if _, err := locks.Unlock(context.Background(), application.Operator, "no-such-user"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unlock of an unknown user: %v", err)
	}
}

// SECURITY B11, address side: one address failing over many accounts is throttled, other
// addresses are not; an unknown login name is throttled exactly like an account.
func TestB11_AddressThrottledOverManyAccounts(t *testing.T) {
	w, _ := throttledWorld(t, testLimits())
	w.registerAndLogin(t, "victim@example.com")
	for i := range 6 {
		if err := loginAs(w, from("192.0.2.7"), "nobody"+string(rune('a'+i))+"@example.com", "wrong password!"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	expectThrottled(t, loginAs(w, from("192.0.2.7"), "victim@example.com", goodPassword), 10*time.Second)
	if err := loginAs(w, from("192.0.2.8"), "victim@example.com", goodPassword); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// An IPv6 client is counted by its /64.
	for i := range 3 {
		_ = loginAs(w, from("2001:db8:1:2::"+string(rune('a'+i))), "ghost@example.com", "wrong password!")
	}
	expectThrottled(t, loginAs(w, from("2001:db8:3:4::1"), "ghost@example.com", "wrong password!"), 20*time.Second)
	expectThrottled(t, loginAs(w, from("192.0.2.9"), "Ghost@Example.com", "wrong password!"), 20*time.Second)
}

// A successful login forgets the account's failures, so an owner who mistypes now and then
// never meets the delay; PORTCULLIS_RATE_LIMITS=off (Limits.Off) throttles nothing.
func TestLoginSuccessForgetsFailuresAndOffThrottlesNothing(t *testing.T) {
	w, _ := throttledWorld(t, testLimits())
	w.registerAndLogin(t, "typo@example.com")
	for range 3 {
		for range 2 {
			_ = loginAs(w, from("192.0.2.10"), "typo@example.com", "wrong password!")
		}
		if err := loginAs(w, from("192.0.2.11"), "typo@example.com", goodPassword); err != nil {
			t.Fatalf("login after two typos: %v", err)
		}
	}
	off := testLimits()
	off.Off = true
	w, _ = throttledWorld(t, off)
	for range 8 {
		if err := loginAs(w, from("192.0.2.12"), "any@example.com", "wrong password!"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("limits off: %v", err)
		}
	}
}

// A password given to confirm a change by the signed-in owner is a login under the throttle:
// a holder of a stolen session who guesses the current password meets the account's delay and
// soft lock, and guesses no more (not even the right password) while logins are locked; the
// guesses count against the account's logins too.
func TestB11_ChangePasswordGuessesThrottledAsLogins(t *testing.T) {
	w, _ := throttledWorld(t, testLimits())
	tok := w.registerAndLogin(t, "owner@example.com")
	u, _ := w.users.ByEmail(context.Background(), "owner@example.com")
	change := func(ctx context.Context, current string) error {
		return w.password.Handle(ctx, application.ChangePasswordInput{UserID: u.ID, SessionID: tok.SessionID,
			CurrentPassword: current, NewPassword: "a new pass phrase"})
	}
	for i := range 3 {
		if err := change(from("198.51.100.1"), "wrong guess "+string(rune('a'+i))); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	expectThrottled(t, change(from("198.51.100.1"), goodPassword), 20*time.Second)
	expectThrottled(t, loginAs(w, from("203.0.113.9"), "owner@example.com", goodPassword), 20*time.Second)
	// Two more guesses, one per step of the delay, and the account is locked for 15 minutes.
	for range 2 {
		w.clock.Advance(20 * time.Second)
		if err := change(from("198.51.100.1"), "another wrong guess"); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("guess after the delay: %v", err)
		}
	}
	w.clock.Advance(20 * time.Second)
	expectThrottled(t, change(from("198.51.100.2"), goodPassword), 15*time.Minute-20*time.Second)
	if stored, _ := w.users.ByID(context.Background(), u.ID); stored.PasswordHash != u.PasswordHash {
		t.Fatal("a throttled change changed the password")
	}
	w.clock.Advance(15 * time.Minute)
	if err := change(from("198.51.100.2"), goodPassword); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}
