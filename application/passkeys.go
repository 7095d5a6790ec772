package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Errors of the passkey use cases.
var (
	// ErrInvalidPasskey: an assertion or registration that does not check (wrong origin,
	// relying-party id, challenge or signature; an unknown credential; a signature counter
	// that does not advance). It counts as a wrong code where a second factor is checked.
	ErrInvalidPasskey = fmt.Errorf("invalid passkey: %w", ErrInvalidCode)
	// ErrInvalidCeremony: an unknown, expired or used WebAuthn ceremony.
	ErrInvalidCeremony = fmt.Errorf("invalid or expired passkey ceremony: %w", domain.ErrUnauthenticated)
	// ErrPasskeyExists: the authenticator's credential is registered already.
	ErrPasskeyExists = fmt.Errorf("passkey already registered: %w", domain.ErrConflict)
	// ErrTooManyPasskeys: the user has MaxPasskeys passkeys.
	ErrTooManyPasskeys = fmt.Errorf("too many passkeys: %w", domain.ErrConflict)
	// ErrNoPasskey: the user has no passkey to use as a second factor.
	ErrNoPasskey = fmt.Errorf("no passkey: %w", domain.ErrNotFound)
)

// MaxPasskeys bounds how many passkeys one user keeps.
const MaxPasskeys = 20

// passkeyCeremonyTTL is how long a registration or login ceremony may take.
const passkeyCeremonyTTL = 5 * time.Minute

// defaultPasskeyName names a passkey registered without a name.
const defaultPasskeyName = "Passkey"

// Ceremony is a WebAuthn ceremony under way: Token names it in the finishing request (it is
// single-use and expires at ExpiresAt), Options go to navigator.credentials.create or .get.
type Ceremony struct {
	Token     string
	Options   []byte
	IssuedAt  time.Time // the application's clock: the lifetime counts from here
	ExpiresAt time.Time
}

// Passkeys registers, lists, renames and deletes a user's passkeys, logs in with a passkey
// alone, and checks one as the second factor of a password login. Challenges are single-use
// and expire; a signature counter that does not advance is refused (a cloned credential).
type Passkeys struct {
	factors  *SecondFactors
	store    ports.Passkeys
	rp       ports.WebAuthn
	pending  ports.Challenges
	users    ports.UserStore
	sessions ports.SessionStore
	hasher   ports.PasswordHasher
	opener   *loginOpener
	ids      ports.IDSource
	clock    ports.Clock
	settings Settings
	audit    *Auditor
	log      *slog.Logger
}

// NewPasskeys wires the passkey use cases. factors decides, by the rule of every second
// factor, whether a change to the user's passkeys needs a session opened with a second factor,
// and keeps the recovery codes from outliving the last factor.
func NewPasskeys(factors *SecondFactors, store ports.Passkeys, rp ports.WebAuthn, pending ports.Challenges,
	users ports.UserStore, sessions ports.SessionStore, hasher ports.PasswordHasher, issuer ports.TokenIssuer,
	ids ports.IDSource, clock ports.Clock, settings Settings, audit *Auditor, log *slog.Logger) *Passkeys {
	opener := newLoginOpener(users, sessions, issuer, ids, clock, settings, audit, log)
	opener.auditDetail = "method=" + MethodPasskey
	return &Passkeys{factors: factors, store: store, rp: rp, pending: pending, users: users, sessions: sessions,
		hasher: hasher, ids: ids, clock: clock, settings: settings, audit: audit, log: log, opener: opener}
}

// UsePasskeys makes passkeys second factors: a password login of a user with one lists
// "passkey" among its methods, MFAVerify accepts an assertion, and removing a user's factors
// removes its passkeys. The composition root calls it once, before serving.
func (f *SecondFactors) UsePasskeys(p *Passkeys) { f.passkeys = p }

func passkeyUser(u domain.User) ports.PasskeyUser {
	name := u.Name
	if name == "" {
		name = u.Email
	}
	return ports.PasskeyUser{ID: u.ID, Name: u.Email, DisplayName: name}
}

// park keeps a ceremony's state under a new token.
func (p *Passkeys) park(ctx context.Context, purpose domain.ChallengePurpose, userID string, options, state []byte) (Ceremony, error) {
	token, err := randomToken()
	if err != nil {
		return Ceremony{}, fmt.Errorf("new ceremony token: %w", err)
	}
	now := p.clock.Now()
	c := domain.Challenge{Hash: hashToken(token), Purpose: purpose, UserID: userID, Data: state,
		CreatedAt: now, ExpiresAt: now.Add(passkeyCeremonyTTL)}
	if err := p.pending.Put(ctx, c); err != nil {
		return Ceremony{}, fmt.Errorf("store ceremony: %w", err)
	}
	return Ceremony{Token: token, Options: options, IssuedAt: now, ExpiresAt: c.ExpiresAt}, nil
}

// take spends a ceremony: of two finishing requests with one token only one gets it.
func (p *Passkeys) take(ctx context.Context, token string, purpose domain.ChallengePurpose) (domain.Challenge, error) {
	c, err := p.pending.Take(ctx, hashToken(token), purpose, p.clock.Now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return domain.Challenge{}, ErrInvalidCeremony
	case err != nil:
		return domain.Challenge{}, fmt.Errorf("take ceremony: %w", err)
	}
	return c, nil
}

// BeginRegistration starts registering a passkey for the caller, given the account's password
// (see addingAWayIn). A user who has a second factor registers another only from a session
// opened with one (ErrMFARequired, see guardChange).
func (p *Passkeys) BeginRegistration(ctx context.Context, caller Principal, password string) (Ceremony, error) {
	userID := caller.UserID
	u, err := loadSelf(ctx, p.users, userID)
	if err != nil {
		return Ceremony{}, err
	}
	if err := p.factors.guardChange(ctx, caller); err != nil {
		return Ceremony{}, err
	}
	if err := addingAWayIn(ctx, p.factors, p.hasher, p.log, u, password); err != nil {
		return Ceremony{}, err
	}
	existing, err := p.store.ByUser(ctx, userID)
	if err != nil {
		return Ceremony{}, fmt.Errorf("load passkeys: %w", err)
	}
	if len(existing) >= MaxPasskeys {
		return Ceremony{}, ErrTooManyPasskeys
	}
	options, state, err := p.rp.BeginRegistration(passkeyUser(u), existing)
	if err != nil {
		return Ceremony{}, err
	}
	return p.park(ctx, domain.ChallengePasskeyRegister, userID, options, state)
}

// FinishRegistration checks the authenticator's answer to the caller's ceremony token and
// keeps the new passkey, named name ("" is defaultPasskeyName). The rule of BeginRegistration
// holds again here: a factor added since the ceremony began counts. A first factor starts with
// no recovery codes (see dropOrphanedCodes).
func (p *Passkeys) FinishRegistration(ctx context.Context, caller Principal, token, name string, response []byte) (domain.Passkey, error) {
	userID := caller.UserID
	name = strings.TrimSpace(name)
	if name == "" {
		name = defaultPasskeyName
	}
	if !domain.ValidPasskeyName(name) {
		return domain.Passkey{}, invalidField("name", "invalid", fmt.Sprintf("must be 1 to %d characters", domain.PasskeyNameMax))
	}
	if err := p.factors.guardChange(ctx, caller); err != nil {
		return domain.Passkey{}, err
	}
	c, err := p.take(ctx, token, domain.ChallengePasskeyRegister)
	if err != nil {
		return domain.Passkey{}, err
	}
	if c.UserID != userID {
		return domain.Passkey{}, ErrInvalidCeremony // another user's ceremony
	}
	u, err := loadSelf(ctx, p.users, userID)
	if err != nil {
		return domain.Passkey{}, err
	}
	pk, err := p.rp.FinishRegistration(passkeyUser(u), c.Data, response)
	if errors.Is(err, domain.ErrInvalidCredentials) {
		p.log.InfoContext(ctx, "passkey registration refused", "user_id", userID, "error", err)
		p.audit.record(ctx, domain.EventMFAEnrol, userID, userID, "refused", "method=passkey")
		return domain.Passkey{}, ErrInvalidPasskey
	}
	if err != nil {
		return domain.Passkey{}, err
	}
	// Codes of an account with no factor stand in for nothing: left by a factor removed before
	// its codes went with it, they must not come back to life with this one.
	if err := p.factors.dropOrphanedCodes(ctx, userID); err != nil {
		return domain.Passkey{}, err
	}
	pk.ID, pk.UserID, pk.Name, pk.CreatedAt = p.ids.NewID(), userID, name, p.clock.Now()
	switch err := p.store.Add(ctx, pk); {
	case errors.Is(err, domain.ErrConflict):
		p.audit.record(ctx, domain.EventMFAEnrol, userID, userID, "duplicate", "method=passkey")
		return domain.Passkey{}, ErrPasskeyExists
	case err != nil:
		return domain.Passkey{}, fmt.Errorf("store passkey: %w", err)
	}
	p.log.InfoContext(ctx, "passkey registered", "user_id", userID, "passkey_id", pk.ID)
	p.audit.record(ctx, domain.EventMFAEnrol, userID, userID, "ok", "method=passkey passkey="+pk.ID)
	return pk, nil
}

// List returns userID's passkeys, oldest first.
func (p *Passkeys) List(ctx context.Context, userID string) ([]domain.Passkey, error) {
	list, err := p.store.ByUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("load passkeys: %w", err)
	}
	return list, nil
}

// Rename renames userID's passkey id; another user's is domain.ErrNotFound.
func (p *Passkeys) Rename(ctx context.Context, userID, id, name string) (domain.Passkey, error) {
	name = strings.TrimSpace(name)
	if !domain.ValidPasskeyName(name) {
		return domain.Passkey{}, invalidField("name", "invalid", fmt.Sprintf("must be 1 to %d characters", domain.PasskeyNameMax))
	}
	pk, err := p.store.Rename(ctx, userID, id, name)
	if err != nil {
		return domain.Passkey{}, fmt.Errorf("rename passkey: %w", err)
	}
	return pk, nil
}

// Delete removes the caller's passkey id; another user's is domain.ErrNotFound. Removing a
// factor of an account that has one needs a session opened with a second factor
// (ErrMFARequired, see guardChange). The recovery codes go with the last factor. Like removing a
// TOTP authenticator, it ends every other session of the user (the caller's own stays): a
// session opened by whoever held the passkey, or a clone of it, must not outlive it.
func (p *Passkeys) Delete(ctx context.Context, caller Principal, id string) error {
	userID := caller.UserID
	if err := p.factors.guardChange(ctx, caller); err != nil {
		return err
	}
	if err := p.store.Delete(ctx, userID, id); err != nil {
		return fmt.Errorf("delete passkey: %w", err)
	}
	if err := p.factors.dropOrphanedCodes(ctx, userID); err != nil {
		return err
	}
	revoked, err := revokeOthers(ctx, p.sessions, userID, caller.SessionID, p.clock.Now())
	if err != nil {
		return err
	}
	p.log.InfoContext(ctx, "passkey removed", "user_id", userID, "passkey_id", id, "sessions_revoked", revoked)
	p.audit.record(ctx, domain.EventMFARemove, userID, userID, "ok",
		fmt.Sprintf("method=passkey passkey=%s sessions_revoked=%d", id, revoked))
	return nil
}

// BeginLogin starts a login by passkey alone: any discoverable credential of this relying party.
func (p *Passkeys) BeginLogin(ctx context.Context) (Ceremony, error) {
	options, state, err := p.rp.BeginLogin(nil, nil)
	if err != nil {
		return Ceremony{}, err
	}
	return p.park(ctx, domain.ChallengePasskeyLogin, "", options, state)
}

// verify checks an assertion against a ceremony's state: the passkey it names must be a
// passkey of wantUser (when not "") whose user handle it carries, the assertion must check,
// and its signature counter must advance, which the store records atomically. It returns the
// passkey and the assertion, or ErrInvalidPasskey (audited as failure) with the reason logged.
func (p *Passkeys) verify(ctx context.Context, wantUser string, state, response []byte) (domain.Passkey, ports.PasskeyAssertion, domain.User, error) {
	fail := func(subject, reason string, err error) (domain.Passkey, ports.PasskeyAssertion, domain.User, error) {
		p.log.InfoContext(ctx, "passkey refused", "user_id", subject, "outcome", reason, "error", err)
		p.audit.record(ctx, domain.EventMFAFailure, "", subject, reason, "method=passkey")
		return domain.Passkey{}, ports.PasskeyAssertion{}, domain.User{}, ErrInvalidPasskey
	}
	credID, handle, err := p.rp.AssertionCredential(response)
	if err != nil {
		return fail(wantUser, "malformed", err)
	}
	pk, err := p.store.ByCredentialID(ctx, credID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return fail(wantUser, "unknown_credential", err)
	case err != nil:
		return domain.Passkey{}, ports.PasskeyAssertion{}, domain.User{}, fmt.Errorf("load passkey: %w", err)
	case wantUser != "" && pk.UserID != wantUser:
		return fail(wantUser, "other_users_credential", nil)
	case handle != "" && handle != pk.UserID:
		return fail(pk.UserID, "user_handle_mismatch", nil)
	}
	u, err := p.users.ByID(ctx, pk.UserID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return fail(pk.UserID, "unknown_account", err)
	case err != nil:
		return domain.Passkey{}, ports.PasskeyAssertion{}, domain.User{}, fmt.Errorf("load user: %w", err)
	}
	a, err := p.rp.FinishLogin(passkeyUser(u), pk, state, response)
	switch {
	case errors.Is(err, domain.ErrInvalidCredentials):
		return fail(pk.UserID, "bad_assertion", err)
	case err != nil:
		return domain.Passkey{}, ports.PasskeyAssertion{}, domain.User{}, err
	case !domain.SignCountAdvances(pk.SignCount, a.SignCount):
		return fail(pk.UserID, "counter_regression", fmt.Errorf("sign count %d after %d", a.SignCount, pk.SignCount))
	}
	switch err := p.store.Use(ctx, pk.ID, a.SignCount, a.Credential, p.clock.Now()); {
	case errors.Is(err, domain.ErrConflict):
		return fail(pk.UserID, "counter_regression", err) // a concurrent use got there first
	case errors.Is(err, domain.ErrNotFound):
		return fail(pk.UserID, "removed", err)
	case err != nil:
		return domain.Passkey{}, ports.PasskeyAssertion{}, domain.User{}, fmt.Errorf("record passkey use: %w", err)
	}
	return pk, a, u, nil
}

// FinishLogin completes a login by passkey alone and opens a session with amr hwk (and user,
// when the authenticator verified its user). A disabled account is refused as a wrong
// password would be; an unverified one as a password login would be. The user is re-read once
// the session is stored, by the rule of the password and second-factor logins (loginOpener):
// disabled, deleted or given another password meanwhile, domain.ErrInvalidCredentials and no
// session; roles changed, a session with the new roles, or domain.ErrStale after three changes.
func (p *Passkeys) FinishLogin(ctx context.Context, token string, response []byte) (TokensOutput, error) {
	c, err := p.take(ctx, token, domain.ChallengePasskeyLogin)
	if err != nil {
		return TokensOutput{}, err
	}
	pk, a, u, err := p.verify(ctx, "", c.Data, response)
	if err != nil {
		return TokensOutput{}, err
	}
	if u.Disabled {
		p.audit.record(ctx, domain.EventLoginFailure, "", u.ID, "disabled", "method=passkey")
		return TokensOutput{}, domain.ErrInvalidCredentials
	}
	if p.settings.RequireVerifiedEmail && !u.EmailVerified {
		p.audit.record(ctx, domain.EventLoginFailure, "", u.ID, "email_not_verified", "method=passkey")
		return TokensOutput{}, domain.ErrEmailNotVerified
	}
	amr := []string{domain.AMRHardware}
	if a.UserVerified {
		amr = append(amr, domain.AMRUser)
	}
	out, err := p.opener.open(ctx, u, amr)
	if err != nil {
		return TokensOutput{}, err
	}
	p.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", out.SessionID, "outcome", "ok", "method", MethodPasskey)
	p.audit.record(ctx, domain.EventMFASuccess, u.ID, u.ID, "ok", "method=passkey passkey="+pk.ID)
	p.audit.record(ctx, domain.EventLoginSuccess, u.ID, u.ID, "ok", "session="+out.SessionID+" amr="+strings.Join(amr, "+"))
	return out, nil
}

// BeginSecondFactor starts a passkey assertion as the second factor of the password login
// mfaToken names, for that user's passkeys. The mfa_token stays valid (MFAVerify takes it);
// the ceremony lives under the mfa_token's hash, a second begin replacing the first.
func (p *Passkeys) BeginSecondFactor(ctx context.Context, mfaToken string) ([]byte, error) {
	hash := hashToken(mfaToken)
	now := p.clock.Now()
	// Read the pending login without spending it: MFAVerify may be taking it meanwhile.
	login, err := p.pending.Get(ctx, hash, domain.ChallengeMFA, now)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return nil, ErrInvalidMFAToken
	case err != nil:
		return nil, fmt.Errorf("read mfa token: %w", err)
	}
	u, err := p.users.ByID(ctx, login.UserID)
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	list, err := p.store.ByUser(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load passkeys: %w", err)
	}
	if len(list) == 0 {
		return nil, ErrNoPasskey
	}
	pu := passkeyUser(u)
	options, state, err := p.rp.BeginLogin(&pu, list)
	if err != nil {
		return nil, err
	}
	c := domain.Challenge{Hash: hash, Purpose: domain.ChallengePasskeyMFA, UserID: u.ID, Data: state,
		CreatedAt: now, ExpiresAt: login.ExpiresAt}
	err = p.pending.Put(ctx, c)
	if errors.Is(err, domain.ErrConflict) { // begun before: this ceremony replaces that one
		_, _ = p.pending.Take(ctx, hash, domain.ChallengePasskeyMFA, now)
		err = p.pending.Put(ctx, c)
	}
	if err != nil {
		return nil, fmt.Errorf("store ceremony: %w", err)
	}
	return options, nil
}

// checkSecondFactor checks response, an assertion by one of userID's passkeys, against the
// ceremony BeginSecondFactor started for mfaToken, and spends that ceremony. It returns the
// passkey's id, or an error that is ErrInvalidCode for a refused assertion.
func (p *Passkeys) checkSecondFactor(ctx context.Context, userID, mfaToken string, response []byte) (string, error) {
	c, err := p.pending.Take(ctx, hashToken(mfaToken), domain.ChallengePasskeyMFA, p.clock.Now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return "", ErrInvalidPasskey // no ceremony begun (or it was spent): nothing to check against
	case err != nil:
		return "", fmt.Errorf("take ceremony: %w", err)
	case c.UserID != userID:
		return "", ErrInvalidPasskey
	}
	pk, _, _, err := p.verify(ctx, userID, c.Data, response)
	if err != nil {
		return "", err
	}
	return pk.ID, nil
}

// hasPasskey reports whether userID has a passkey.
func (p *Passkeys) hasPasskey(ctx context.Context, userID string) (bool, error) {
	has, err := p.store.HasAny(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("look for passkeys: %w", err)
	}
	return has, nil
}
