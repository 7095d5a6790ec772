package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// LoginInput is a password login. Identifier is an email address or a username. The client's
// address and user agent, kept with the session, come from the context's RequestInfo.
type LoginInput struct {
	Identifier string
	Password   string
	// By says what Identifier is; the zero value, ByEither, takes an identifier with an "@" as
	// an email address and any other as a username.
	By IdentifierKind
}

// IdentifierKind says how a login names its account.
type IdentifierKind int

// The ways a login may name its account.
const (
	ByEither IdentifierKind = iota
	ByEmail
	ByUsername
)

// TokensOutput is what a login or refresh hands the client.
type TokensOutput struct {
	AccessToken      string
	IssuedAt         time.Time // when the tokens were minted (the application's clock): lifetimes count from here
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time // when the session ends unless refreshed (idle) or at the latest (absolute)
	SessionID        string
	User             *UserView // set by login, nil on refresh (refresh never reads the user table)
	// MFA is set, and every other field empty, when the password was right but the user has a
	// second factor: no session exists yet, and MFAVerify completes the login.
	MFA *PendingMFA
}

// Login checks a password and opens a session.
type Login struct {
	users    ports.UserStore
	idn      ports.IdentityNormalizer
	hasher   ports.PasswordHasher
	opener   *loginOpener
	clock    ports.Clock
	settings Settings
	throttle *Throttle
	audit    *Auditor
	log      *slog.Logger
	factors  *SecondFactors // nil: no second factors (a password alone logs in)

	dummyMu sync.Mutex
	dummy   string // the hash checked for unknown accounts; "" until first computed
}

// NewLogin wires the login use case. A nil throttle throttles nothing.
func NewLogin(users ports.UserStore, idn ports.IdentityNormalizer, sessions ports.SessionStore, hasher ports.PasswordHasher, issuer ports.TokenIssuer,
	clock ports.Clock, ids ports.IDSource, settings Settings, throttle *Throttle, audit *Auditor, log *slog.Logger) *Login {
	return &Login{
		users: users, idn: idn, hasher: hasher, clock: clock, settings: settings, throttle: throttle,
		audit: audit, log: log, opener: newLoginOpener(users, sessions, issuer, ids, clock, settings, audit, log),
	}
}

// UseSecondFactors makes a password login of a user with a second factor answer with a
// PendingMFA instead of tokens. The composition root calls it once, before serving.
func (l *Login) UseSecondFactors(f *SecondFactors) { l.factors = f }

// Handle logs in. An unknown login, a wrong password and a disabled account all return
// domain.ErrInvalidCredentials after the same amount of hashing work.
//
// The user is read before the (slow) password check and the session is created after it, so
// an administrator's disable or a password change in between would sweep the user's sessions
// before this one exists. Handle therefore re-reads the user once the session is stored: if it
// is now disabled, deleted or has another password hash, the new session is deleted and the
// login fails with domain.ErrInvalidCredentials; if its roles changed, the session is deleted
// and opened again with the new roles, and after three such changes the login fails with
// domain.ErrStale (see loginOpener, which MFAVerify shares).
//
// Failed logins are throttled per account and per client address (see Throttle): while either
// is delayed or softly locked, Handle refuses with domain.ErrThrottled before any password work,
// for a known account and an unknown login name alike; and a checked password is answered only
// once it has taken its attempt from the account's bucket (Throttle.SettlePassword), so that of
// logins sent together no more are answered than the bucket holds.
func (l *Login) Handle(ctx context.Context, in LoginInput) (TokensOutput, error) {
	u, name, err := l.lookup(ctx, in.Identifier, in.By)
	acct := u.ID
	if errors.Is(err, domain.ErrNotFound) {
		acct = "name:" + name
	} else if err != nil {
		return TokensOutput{}, fmt.Errorf("load user: %w", err)
	}
	if err := l.throttled(ctx, u.ID, l.throttle.CheckLogin(ctx, acct)); err != nil {
		return TokensOutput{}, err
	}
	if u.ID == "" {
		// Spend the time a real check would, so response time does not reveal the account. A
		// hasher at capacity answers as it would for a known account (503), never a quick 401.
		if err := l.spendDummyCheck(ctx, in.Password); err != nil {
			return TokensOutput{}, fmt.Errorf("verify password: %w", err)
		}
		if err := l.throttled(ctx, "", l.throttle.SettlePassword(ctx, acct, false)); err != nil {
			return TokensOutput{}, err
		}
		return TokensOutput{}, l.failed(ctx, "", "unknown_account")
	}
	ok, rehash, err := checkPassword(ctx, l.hasher, l.log, u, in.Password)
	if err != nil {
		return TokensOutput{}, err
	}
	if err := l.throttled(ctx, u.ID, l.throttle.SettlePassword(ctx, acct, ok && !u.Disabled)); err != nil {
		return TokensOutput{}, err
	}
	if !ok || u.Disabled {
		outcome := "bad_password"
		if ok {
			outcome = "disabled"
		}
		return TokensOutput{}, l.failed(ctx, u.ID, outcome)
	}
	if l.settings.RequireVerifiedEmail && !u.EmailVerified {
		// After the password check: only the owner learns the address is unverified.
		l.log.InfoContext(ctx, "login refused", "user_id", u.ID, "outcome", "email_not_verified")
		l.audit.record(ctx, domain.EventLoginFailure, "", u.ID, "email_not_verified", "")
		return TokensOutput{}, domain.ErrEmailNotVerified
	}
	if rehash {
		u = l.upgradeHash(ctx, u, in.Password)
	}
	if l.factors != nil {
		pending, err := l.factors.begin(ctx, u, []string{domain.AMRPassword})
		if err != nil {
			return TokensOutput{}, err
		}
		if pending != nil {
			l.log.InfoContext(ctx, "login needs a second factor", "user_id", u.ID, "outcome", "mfa_required")
			return TokensOutput{MFA: pending}, nil
		}
	}
	out, err := l.opener.open(ctx, u, []string{domain.AMRPassword})
	if err != nil {
		return TokensOutput{}, err
	}
	l.throttle.LoginSucceeded(ctx, acct)
	l.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", out.SessionID, "outcome", "ok")
	l.audit.record(ctx, domain.EventLoginSuccess, u.ID, u.ID, "ok", "session="+out.SessionID)
	return out, nil
}

// throttled logs err, the throttle's answer to a login of userID ("" for a name no account has),
// when it refuses, and returns it.
func (l *Login) throttled(ctx context.Context, userID string, err error) error {
	if errors.Is(err, domain.ErrThrottled) {
		l.log.InfoContext(ctx, "login throttled", "user_id", userID, "error", err)
	}
	return err
}

// failed records a failed login of userID ("" for a name no account has) with outcome, which
// Throttle.SettlePassword has counted, and returns the one error every such failure gets.
func (l *Login) failed(ctx context.Context, userID, outcome string) error {
	if userID == "" {
		l.log.InfoContext(ctx, "login failed", "outcome", outcome)
	} else {
		l.log.InfoContext(ctx, "login failed", "user_id", userID, "outcome", outcome)
	}
	l.audit.record(ctx, domain.EventLoginFailure, "", userID, outcome, "")
	return domain.ErrInvalidCredentials
}

// lookup finds the account a login names (an email address as findByEmail does: by its
// normalised form, or an account left under its stored spelling), and returns the name as
// looked up (the throttling key of a name no account has; an unparsable name is used trimmed
// and lower-cased, at most 320 bytes).
func (l *Login) lookup(ctx context.Context, identifier string, by IdentifierKind) (domain.User, string, error) {
	raw := truncate(strings.ToLower(strings.TrimSpace(identifier)), 320)
	// The compatibility forms of "@" (fullwidth U+FF20, small U+FE6B) fold to it: an address.
	if by == ByEmail || (by == ByEither && strings.ContainsAny(identifier, "@\uff20\ufe6b")) {
		u, key, _, err := findByEmail(ctx, l.users, l.idn, identifier)
		return u, key, err
	}
	username, invalid := l.idn.Username(identifier)
	if invalid != nil {
		return domain.User{}, raw, domain.ErrNotFound
	}
	u, err := l.users.ByUsername(ctx, username)
	return u, username, err
}

// dummyPassword is hashed once into the hash checked for unknown accounts.
const dummyPassword = "portcullis dummy password for unknown accounts"

// spendDummyCheck does the hashing work of a real password check for an unknown account. It
// returns only the hasher's domain.ErrUnavailable (no capacity), which a real check would
// return too; any other outcome is thrown away.
func (l *Login) spendDummyCheck(ctx context.Context, password string) error {
	var err error
	if h := l.dummyHash(ctx); h != "" {
		_, _, err = l.hasher.Verify(ctx, h, password)
	} else {
		// No dummy hash yet (the hasher failed): hashing the password costs the same as checking it.
		_, err = l.hasher.Hash(ctx, password)
	}
	if errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	return nil
}

// dummyHash returns the hash checked for unknown accounts, computing it on first use. It is
// computed without the request's cancellation (one cancelled request must not spoil it for
// every later one) and a failure is retried on the next call: an empty dummy would let unknown
// accounts answer instantly (account enumeration, SECURITY B10). It returns "" on failure.
func (l *Login) dummyHash(ctx context.Context) string {
	l.dummyMu.Lock()
	defer l.dummyMu.Unlock()
	if l.dummy == "" {
		h, err := l.hasher.Hash(context.WithoutCancel(ctx), dummyPassword)
		if err != nil {
			l.log.WarnContext(ctx, "dummy password hash failed", "error", err)
			return ""
		}
		l.dummy = h
	}
	return l.dummy
}

// upgradeHash rewrites a hash made with weaker parameters or another algorithm and returns u as
// now stored (with the new hash and version), or u unchanged when the hash was not rewritten. A
// failure is logged and does not fail the login: the old hash still works. A user changed
// since it was read (domain.ErrStale) is left alone: the next login rehashes.
func (l *Login) upgradeHash(ctx context.Context, u domain.User, password string) domain.User {
	h, err := l.hasher.Hash(ctx, password)
	next := u
	if err == nil {
		next.PasswordHash = h
		next.UpdatedAt = l.clock.Now()
		next, err = l.users.Update(ctx, next)
	}
	switch {
	case errors.Is(err, domain.ErrStale):
		l.log.InfoContext(ctx, "password rehash skipped: the account changed meanwhile", "user_id", u.ID)
		return u
	case err != nil:
		l.log.WarnContext(ctx, "password rehash failed", "user_id", u.ID, "error", err)
		return u
	}
	l.log.InfoContext(ctx, "password rehashed", "user_id", u.ID)
	return next
}

// openSession starts a new session (a new refresh-token family) for u, authenticated by the
// methods amr, and mints its tokens. The client's address and user agent come from ctx's
// RequestInfo.
func openSession(ctx context.Context, sessions ports.SessionStore, tokens *tokenMinter, ids ports.IDSource, s Settings,
	now time.Time, u domain.User, amr []string) (TokensOutput, error) {
	info := requestInfo(ctx)
	sid := ids.NewID()
	refresh, err := newRefreshToken(sid)
	if err != nil {
		return TokensOutput{}, fmt.Errorf("new refresh token: %w", err)
	}
	sess := domain.Session{
		ID:            sid,
		UserID:        u.ID,
		Roles:         u.Roles,
		RefreshHash:   hashRefreshToken(refresh),
		CreatedAt:     now,
		LastUsedAt:    now,
		IdleExpiresAt: now.Add(s.SessionIdle),
		AbsExpiresAt:  now.Add(s.SessionAbsolute),
		IP:            truncate(info.IP, 64),
		UserAgent:     truncate(info.UserAgent, 512),
		AMR:           amr,
	}
	if sess.IdleExpiresAt.After(sess.AbsExpiresAt) {
		sess.IdleExpiresAt = sess.AbsExpiresAt
	}
	if err := sessions.Create(ctx, sess, now); err != nil {
		return TokensOutput{}, fmt.Errorf("create session: %w", err)
	}
	return tokens.mint(ctx, now, sess, refresh)
}

// tokenMinter issues the access token that goes with a session's refresh token.
type tokenMinter struct {
	issuer ports.TokenIssuer
	ids    ports.IDSource
	ttl    time.Duration
}

func (m *tokenMinter) mint(ctx context.Context, now time.Time, s domain.Session, refresh string) (TokensOutput, error) {
	exp := now.Add(m.ttl)
	access, err := m.issuer.Issue(ctx, domain.AccessClaims{
		Subject: s.UserID, SessionID: s.ID, Roles: s.Roles, ID: m.ids.NewID(), IssuedAt: now, ExpiresAt: exp,
		AMR: s.AMR, ACR: domain.ACR(s.AMR),
	})
	if err != nil {
		return TokensOutput{}, fmt.Errorf("issue access token: %w", err)
	}
	return TokensOutput{
		AccessToken: access, IssuedAt: now, AccessExpiresAt: exp,
		RefreshToken: refresh, RefreshExpiresAt: s.ExpiresAt(),
		SessionID: s.ID,
	}, nil
}
