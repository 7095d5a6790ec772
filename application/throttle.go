package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Limits are the throttling settings. Each ports.RateLimit is Burst hits at once, refilled at
// Burst per Period; a limit with Burst 0 is off. The zero value throttles nothing (as Off does);
// the production defaults are config's (README's settings table).
type Limits struct {
	// Off disables every limit (load tests); the composition root logs it loudly.
	Off bool
	// LoginAccount and LoginIP are the failed logins an account, or a client address, may have
	// before each further attempt waits (the growing delay's first step): Burst failures at
	// once, then one per Period/Burst.
	LoginAccount ports.RateLimit
	LoginIP      ports.RateLimit
	// AccountLock and IPLock count failures over a longer window; when one is exhausted the
	// account (or address) is softly locked for LockFor: password logins are refused with 429
	// until the lock ends by itself, an administrator lifts it, or (for an account) its
	// password is reset. Asking for a reset is never refused by a lock.
	AccountLock ports.RateLimit
	IPLock      ports.RateLimit
	LockFor     time.Duration
	// Register, Mail, Passkey and TokenGuess are per client address: every registration, every
	// request that sends mail, every passkey login ceremony begun without a session (each stores
	// a challenge), and every failed presentation of a token (refresh, e-mail tokens).
	Register   ports.RateLimit
	Mail       ports.RateLimit
	Passkey    ports.RateLimit
	TokenGuess ports.RateLimit
}

// Route names a per-address limit of whole requests, for Throttle.Hit.
type Route int

// The routes limited per client address.
const (
	RouteRegister Route = iota // POST /api/auth/register
	RouteMail                  // requests that send mail (verification resend, forgot password, address change)
	RoutePasskey               // POST /api/auth/passkey/begin: a login ceremony, which stores a challenge
)

// LockStatus is what an administrator sees of an account's login throttling.
type LockStatus struct {
	Locked     bool
	RetryAfter time.Duration // while locked or delayed: how long until the next attempt is allowed
	Delayed    bool          // the growing delay applies: the next attempt must wait RetryAfter
}

// Throttle is the one place where abuse limits are decided, through ports.RateLimiter (shared by
// every instance when it is Redis). Keys are per account (user id, or the normalised login name
// when no account has it, so a throttled unknown name looks exactly like a throttled account)
// and per client address (IPv6 by its /64, which one client usually holds whole). A nil
// *Throttle, or one with Limits.Off, allows everything. Limiter failures are returned wrapped
// (domain.ErrUnavailable from the Redis limiter): throttling never fails open.
type Throttle struct {
	limiter ports.RateLimiter
	limits  Limits
	log     *slog.Logger
}

// NewThrottle wires the throttling rules.
func NewThrottle(limiter ports.RateLimiter, limits Limits, log *slog.Logger) *Throttle {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Throttle{limiter: limiter, limits: limits, log: log}
}

func (t *Throttle) off() bool { return t == nil || t.limits.Off }

// Key layout, all under the limiter's own prefix.
func accountKey(acct string) string       { return "login:acct:" + acct }
func accountLockKey(acct string) string   { return "login:acct-lock:" + acct }
func accountWindowKey(acct string) string { return "login:acct-window:" + acct }
func ipKey(kind, ip string) string        { return kind + ":ip:" + addressBucket(ip) }

// addressBucket is the part of a client address that limits count: the address itself for
// IPv4, its /64 for IPv6; anything unparsable (no request info) as it is.
func addressBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// lockLimit is the limit of a lock key: one hit fills it for LockFor.
func (t *Throttle) lockLimit() ports.RateLimit {
	return ports.RateLimit{Burst: 1, Period: t.limits.LockFor}
}

// check refuses when key's bucket under limit is empty (without recording a hit).
func (t *Throttle) check(ctx context.Context, key string, limit ports.RateLimit) error {
	if limit.Burst < 1 || limit.Period <= 0 {
		return nil
	}
	r, err := t.limiter.Allow(ctx, key, limit, 0)
	if err != nil {
		return fmt.Errorf("throttle %s: %w", key, err)
	}
	if r.Remaining < 1 {
		return &domain.ThrottledError{RetryAfter: r.RetryAfter, Limit: limit.Burst, Window: limit.Period}
	}
	return nil
}

// checkLocked refuses while a soft lock is on.
func (t *Throttle) checkLocked(ctx context.Context, key string) error {
	if t.limits.LockFor <= 0 {
		return nil
	}
	return t.check(ctx, key, t.lockLimit())
}

// CheckLogin refuses a login attempt (before any password work) while the client address or
// the account acct is delayed or locked. acct is the user id, or "name:" and the normalised
// login name when no account has it. The password, once checked, is settled with
// SettlePassword.
func (t *Throttle) CheckLogin(ctx context.Context, acct string) error {
	if t.off() {
		return nil
	}
	ip := requestInfo(ctx).IP
	for _, c := range []struct {
		key   string
		limit ports.RateLimit
	}{
		{ipKey("login-lock", ip), t.lockLimit()},
		{ipKey("login", ip), t.limits.LoginIP},
		{accountLockKey(acct), t.lockLimit()},
		{accountKey(acct), t.limits.LoginAccount},
	} {
		if c.limit.Period <= 0 {
			continue
		}
		if err := t.check(ctx, c.key, c.limit); err != nil {
			return err
		}
	}
	return nil
}

// TakeAttempt is CheckLogin for a guess that is quick to check (a second-factor code): besides
// refusing while the client address or acct is delayed or locked, it takes the attempt from
// acct's bucket at once, in one step of the limiter, and refuses when the bucket is empty. Of
// many attempts sent together only as many as the bucket holds are then checked; with
// CheckLogin alone all of them would pass before the first failure is counted, and each soft
// lock would let through as many guesses as one burst of requests carries. The attempt is
// settled by AttemptFailed (a wrong guess) or LoginSucceeded (a right one, which forgets it).
func (t *Throttle) TakeAttempt(ctx context.Context, acct string) error {
	if err := t.CheckLogin(ctx, acct); err != nil || t.off() {
		return err
	}
	return t.take(ctx, accountKey(acct), t.limits.LoginAccount)
}

// take records one hit on key under limit, or refuses with domain.ErrThrottled when it does not
// fit (and records nothing). A limit with Burst 0 takes nothing.
func (t *Throttle) take(ctx context.Context, key string, limit ports.RateLimit) error {
	if limit.Burst < 1 || limit.Period <= 0 {
		return nil
	}
	r, err := t.limiter.Allow(ctx, key, limit, 1)
	if err != nil {
		return fmt.Errorf("throttle %s: %w", key, err)
	}
	if !r.Allowed {
		return &domain.ThrottledError{RetryAfter: r.RetryAfter, Limit: limit.Burst, Window: limit.Period}
	}
	return nil
}

// SettlePassword settles a password guess at acct once it is checked, before it is answered.
// A password check waits for the hash queue, so guesses sent together all pass CheckLogin
// before the first failure is counted. A wrong guess is therefore answered only once it has
// taken its attempt from acct's bucket, in one step of the limiter, and counted as AttemptFailed
// counts it; a right one only while the bucket holds an attempt, which it leaves there (a right
// password costs the bucket nothing, and clears none of the account's failures: the bucket
// also holds its second-factor guesses, which whoever knows the password must not renew;
// LoginSucceeded forgets them once a login completes). Otherwise the guess is refused with
// domain.ErrThrottled, right or wrong, so that of guesses sent together no more wrong ones are
// answered than the bucket holds, and a 429 tells nothing about the password.
func (t *Throttle) SettlePassword(ctx context.Context, acct string, right bool) error {
	if t.off() {
		return nil
	}
	if right {
		return t.check(ctx, accountKey(acct), t.limits.LoginAccount)
	}
	if err := t.take(ctx, accountKey(acct), t.limits.LoginAccount); err != nil {
		return err
	}
	t.AttemptFailed(ctx, acct)
	return nil
}

// AttemptFailed counts a wrong guess that TakeAttempt or SettlePassword let through against acct
// and the client address (the hit on acct's bucket was taken already), and locks either whose
// long-window count runs out. A limiter failure is logged: the attempt has already failed.
func (t *Throttle) AttemptFailed(ctx context.Context, acct string) {
	if t.off() {
		return
	}
	ip := requestInfo(ctx).IP
	ctx = context.WithoutCancel(ctx) // the failure counts even if the client has gone
	err := errors.Join(
		t.hit(ctx, accountWindowKey(acct), t.limits.AccountLock, accountLockKey(acct)),
		t.hit(ctx, ipKey("login", ip), t.limits.LoginIP, ""),
		t.hit(ctx, ipKey("login-window", ip), t.limits.IPLock, ipKey("login-lock", ip)),
	)
	if err != nil {
		t.log.WarnContext(ctx, "throttle: counting a failed login failed", "error", err)
	}
}

// hit records one hit on key; when the bucket is then empty and lockKey is set, the lock is
// put on for LockFor.
func (t *Throttle) hit(ctx context.Context, key string, limit ports.RateLimit, lockKey string) error {
	if limit.Burst < 1 || limit.Period <= 0 {
		return nil
	}
	r, err := t.limiter.Allow(ctx, key, limit, 1)
	if err != nil {
		return fmt.Errorf("throttle %s: %w", key, err)
	}
	if lockKey == "" || t.limits.LockFor <= 0 || (r.Allowed && r.Remaining > 0) {
		return nil
	}
	if _, err := t.limiter.Allow(ctx, lockKey, t.lockLimit(), 1); err != nil {
		return fmt.Errorf("throttle lock %s: %w", lockKey, err)
	}
	t.log.WarnContext(ctx, "login soft lock", "key", lockKey, "for", t.limits.LockFor.String())
	return nil
}

// LoginSucceeded forgets the failures of acct (not of the address, which may serve many
// accounts). A limiter failure is logged: the login has succeeded.
func (t *Throttle) LoginSucceeded(ctx context.Context, acct string) {
	if t.off() {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, k := range []string{accountKey(acct), accountWindowKey(acct)} {
		if err := t.limiter.Reset(ctx, k); err != nil {
			t.log.WarnContext(ctx, "throttle: forgetting login failures failed", "error", err)
			return
		}
	}
}

// Unlock lifts the soft lock of the account userID and forgets its failures: an administrator's
// unlock, and a successful password reset, call it.
func (t *Throttle) Unlock(ctx context.Context, userID string) error {
	if t.off() {
		return nil
	}
	for _, k := range []string{accountLockKey(userID), accountWindowKey(userID), accountKey(userID)} {
		if err := t.limiter.Reset(ctx, k); err != nil {
			return fmt.Errorf("unlock %s: %w", userID, err)
		}
	}
	return nil
}

// Status reports whether the account userID is softly locked or delayed, without changing it.
func (t *Throttle) Status(ctx context.Context, userID string) (LockStatus, error) {
	if t.off() {
		return LockStatus{}, nil
	}
	var te *domain.ThrottledError
	err := t.checkLocked(ctx, accountLockKey(userID))
	if errors.As(err, &te) {
		return LockStatus{Locked: true, RetryAfter: te.RetryAfter}, nil
	}
	if err != nil {
		return LockStatus{}, err
	}
	err = t.check(ctx, accountKey(userID), t.limits.LoginAccount)
	if errors.As(err, &te) {
		return LockStatus{Delayed: true, RetryAfter: te.RetryAfter}, nil
	}
	return LockStatus{}, err
}

// Hit counts one request to a route limited per client address and refuses it with
// domain.ErrThrottled once the address has used its limit.
func (t *Throttle) Hit(ctx context.Context, route Route) error {
	if t.off() {
		return nil
	}
	kind, limit := "register", t.limits.Register
	switch route {
	case RouteMail:
		kind, limit = "mail", t.limits.Mail
	case RoutePasskey:
		kind, limit = "passkey", t.limits.Passkey
	}
	return t.take(ctx, ipKey(kind, requestInfo(ctx).IP), limit)
}

// CheckGuess refuses a token presentation (refresh, e-mail tokens) from a client address that
// has failed too many; GuessFailed counts one failure.
func (t *Throttle) CheckGuess(ctx context.Context) error {
	if t.off() || t.limits.TokenGuess.Period <= 0 {
		return nil
	}
	return t.check(ctx, ipKey("guess", requestInfo(ctx).IP), t.limits.TokenGuess)
}

// GuessFailed counts one failed token presentation from the client address; a limiter failure
// is logged (the request has already failed).
func (t *Throttle) GuessFailed(ctx context.Context) {
	if t.off() {
		return
	}
	if err := t.hit(context.WithoutCancel(ctx), ipKey("guess", requestInfo(ctx).IP), t.limits.TokenGuess, ""); err != nil {
		t.log.WarnContext(ctx, "throttle: counting a failed token failed", "error", err)
	}
}
