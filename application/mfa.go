package application

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Errors of the second-factor use cases. Each wraps the domain error the HTTP adapter falls
// back to, so a caller that only cares about the kind need not know them.
var (
	// ErrInvalidCode: a wrong, replayed or malformed TOTP or recovery code.
	ErrInvalidCode = fmt.Errorf("invalid code: %w", domain.ErrInvalidCredentials)
	// ErrInvalidMFAToken: an unknown, expired, used or exhausted mfa_token.
	ErrInvalidMFAToken = fmt.Errorf("invalid mfa token: %w", domain.ErrUnauthenticated)
	// ErrTOTPEnabled: the user already has a confirmed TOTP authenticator.
	ErrTOTPEnabled = fmt.Errorf("TOTP already enabled: %w", domain.ErrConflict)
	// ErrNoTOTP: the user has no TOTP authenticator (or no pending one, for a confirmation).
	ErrNoTOTP = fmt.Errorf("no TOTP authenticator: %w", domain.ErrNotFound)
	// ErrMFARequired: the route, or a change to the factors of an account that has one, demands
	// a session opened with a second factor.
	ErrMFARequired = fmt.Errorf("second factor required: %w", domain.ErrForbidden)
)

// Second-factor methods, as a login that needs one lists them.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
	MethodPasskey      = "passkey"
)

// mfaAttempts is how many wrong codes one mfa_token survives; the login then starts over with
// the password.
const mfaAttempts = 5

// PendingMFA is a password login that must be completed with a second factor: Token is the
// mfa_token (short-lived, single-use, good only for MFAVerify), Methods the factors the user
// may use.
type PendingMFA struct {
	Token     string
	Methods   []string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// mfaState is what a pending login keeps in its challenge: the methods of its first factor,
// and the passwordMark of the password hash it checked (a login whose password changed before
// its second factor opens no session).
type mfaState struct {
	AMR      []string `json:"amr"`
	Password []byte   `json:"pw"`
}

// SecondFactors holds a user's second factors (TOTP authenticator, recovery codes) and the rules
// for checking them: a TOTP code within ±domain.TOTPSkew steps, each step accepted once; a
// recovery code once; wrong codes throttled per account. The login, verification and
// enrolment use cases share it.
type SecondFactors struct {
	totp     ports.TOTPFactors
	codes    ports.RecoveryCodes
	otp      ports.OneTimePasswords
	box      ports.SecretBox
	limits   *Throttle
	pending  ports.Challenges
	clock    ports.Clock
	settings Settings
	passkeys *Passkeys // nil: no passkeys (see UsePasskeys)
}

// NewSecondFactors wires the second-factor rules.
func NewSecondFactors(totp ports.TOTPFactors, codes ports.RecoveryCodes, otp ports.OneTimePasswords, box ports.SecretBox,
	throttle *Throttle, pending ports.Challenges, clock ports.Clock, settings Settings) *SecondFactors {
	return &SecondFactors{totp: totp, codes: codes, otp: otp, box: box, limits: throttle, pending: pending,
		clock: clock, settings: settings}
}

// Methods lists the second factors userID has: totp (a confirmed authenticator),
// recovery_code (unused codes left, while a factor they stand in for remains) and passkey. None
// means a password alone logs in.
func (f *SecondFactors) Methods(ctx context.Context, userID string) ([]string, error) {
	totp, passkey, err := f.held(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	if totp {
		out = append(out, MethodTOTP)
	}
	if totp || passkey {
		n, err := f.codes.Count(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("count recovery codes: %w", err)
		}
		if n > 0 {
			out = append(out, MethodRecoveryCode)
		}
	}
	if passkey {
		out = append(out, MethodPasskey)
	}
	return out, nil
}

// held is the one answer to "which factors does userID have": a confirmed TOTP authenticator,
// a passkey (when passkeys are second factors, see UsePasskeys). Recovery codes are not a factor
// of their own: they stand in for one.
func (f *SecondFactors) held(ctx context.Context, userID string) (totp, passkey bool, err error) {
	t, err := f.totp.Get(ctx, userID)
	switch {
	case err == nil:
		totp = t.Confirmed
	case !errors.Is(err, domain.ErrNotFound):
		return false, false, fmt.Errorf("load TOTP factor: %w", err)
	}
	if f.passkeys != nil {
		if passkey, err = f.passkeys.hasPasskey(ctx, userID); err != nil {
			return false, false, err
		}
	}
	return totp, passkey, nil
}

// hasFactor reports whether userID has a second factor (a confirmed TOTP authenticator or a
// passkey).
func (f *SecondFactors) hasFactor(ctx context.Context, userID string) (bool, error) {
	totp, passkey, err := f.held(ctx, userID)
	return totp || passkey, err
}

// guardChange decides whether caller may add or replace a way into their own account (register
// a passkey, enrol TOTP, regenerate recovery codes) or delete a passkey: once the account has a
// second factor, only a session opened with one may (ErrMFARequired otherwise), by the rule
// PORTCULLIS_ADMIN_REQUIRE_MFA applies (Principal.MultiFactor). Otherwise a session opened with
// the password alone (stolen, or older than the factor) could raise itself to two factors, or
// strip the account of one. An account with no factor yet may add its first from any session:
// that is how enrolment starts. (Removing TOTP asks for a current code instead: TOTPSetup.Disable.)
func (f *SecondFactors) guardChange(ctx context.Context, caller Principal) error {
	if caller.MultiFactor() {
		return nil
	}
	has, err := f.hasFactor(ctx, caller.UserID)
	switch {
	case err != nil:
		return err
	case has:
		return ErrMFARequired
	}
	return nil
}

// addingAWayIn checks the password the owner of u gives to add a way into the account: register
// a passkey, enrol a TOTP authenticator, replace the recovery codes. A session alone is not
// enough, whatever it was opened with: its access token, stolen for minutes (a cross-site
// script, a leaked log), would otherwise buy a way in for good, a passkey that logs in without
// the password and outlives a password change, or an authenticator that locks the owner out.
// It is the rule of every password confirmation (reauthenticate): an empty password is a
// missing field, a wrong one a failed login of the account, and while the account or the
// address is delayed or locked, domain.ErrThrottled.
func addingAWayIn(ctx context.Context, f *SecondFactors, hasher ports.PasswordHasher, log *slog.Logger, u domain.User, password string) error {
	if password == "" {
		return invalidField("password", "required", "is required")
	}
	return reauthenticate(ctx, f.limits, hasher, log, u, password)
}

// dropOrphanedCodes deletes userID's recovery codes when no factor is left for them to stand in
// for: after a factor was removed, and before a first passkey is kept (codes orphaned by an older
// version, or by a removal that failed halfway). Left behind, they would work again once a
// passkey is registered, long after their owner forgot them. (A first TOTP authenticator
// replaces them with new ones anyway.)
func (f *SecondFactors) dropOrphanedCodes(ctx context.Context, userID string) error {
	has, err := f.hasFactor(ctx, userID)
	if err != nil || has {
		return err
	}
	if err := f.codes.DeleteByUser(ctx, userID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	return nil
}

// begin parks a login of u that passed its first factor (amr) and returns its mfa_token, or nil
// when u has no second factor.
func (f *SecondFactors) begin(ctx context.Context, u domain.User, amr []string) (*PendingMFA, error) {
	methods, err := f.Methods(ctx, u.ID)
	if err != nil || len(methods) == 0 {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, fmt.Errorf("new mfa token: %w", err)
	}
	data, err := json.Marshal(mfaState{AMR: amr, Password: passwordMark(u.PasswordHash)})
	if err != nil {
		return nil, fmt.Errorf("encode mfa state: %w", err)
	}
	now := f.clock.Now()
	c := domain.Challenge{Hash: hashToken(token), Purpose: domain.ChallengeMFA, UserID: u.ID, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(f.settings.mfaTokenTTL())}
	if err := f.pending.Put(ctx, c); err != nil {
		return nil, fmt.Errorf("store mfa token: %w", err)
	}
	return &PendingMFA{Token: token, Methods: methods, IssuedAt: now, ExpiresAt: c.ExpiresAt}, nil
}

// throttle returns a domain.ErrThrottled error while userID is delayed or locked, and
// otherwise takes the attempt of the code about to be checked from the account's bucket
// (Throttle.TakeAttempt): wrong codes are throttled exactly like wrong passwords, by one rule,
// and codes sent together cannot all slip in before the first failure is counted. A wrong code
// is then counted with attemptFailed, a right one forgotten with clearThrottle.
func (f *SecondFactors) throttle(ctx context.Context, userID string) error {
	return f.limits.TakeAttempt(ctx, userID)
}

// attemptFailed counts a wrong code, whose attempt throttle took, against userID, as a failed
// login of the account.
func (f *SecondFactors) attemptFailed(ctx context.Context, userID string) {
	f.limits.AttemptFailed(ctx, userID)
}

// clearThrottle forgets userID's failures after a right code, as a successful login does.
func (f *SecondFactors) clearThrottle(ctx context.Context, userID string) {
	f.limits.LoginSucceeded(ctx, userID)
}

// openSecret unseals userID's TOTP secret.
func (f *SecondFactors) openSecret(t domain.TOTPFactor) (string, error) {
	secret, err := f.box.Open(totpLabel(t.UserID), t.Secret)
	if err != nil {
		return "", fmt.Errorf("open TOTP secret: %w", err)
	}
	return string(secret), nil
}

func totpLabel(userID string) string { return "totp:" + userID }

// matchStep returns the time step, within ±domain.TOTPSkew of now and after last, whose code
// code is; ok is false when there is none.
func (f *SecondFactors) matchStep(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.TrimSpace(code)
	for _, d := range []int{0, -1, 1} { // the likeliest step first
		if d < -domain.TOTPSkew || d > domain.TOTPSkew {
			continue
		}
		at := now.Add(time.Duration(d) * domain.TOTPPeriod)
		step := domain.TOTPStep(at)
		if step > last && f.otp.Check(secret, code, at) {
			return step, true
		}
	}
	return 0, false
}

// checkTOTP accepts code as userID's current TOTP code once: a code of a step already used (or
// older) is refused, and of two concurrent uses of one code only one wins.
func (f *SecondFactors) checkTOTP(ctx context.Context, userID, code string) error {
	t, err := f.totp.Get(ctx, userID)
	switch {
	case errors.Is(err, domain.ErrNotFound) || (err == nil && !t.Confirmed):
		return ErrInvalidCode
	case err != nil:
		return fmt.Errorf("load TOTP factor: %w", err)
	}
	secret, err := f.openSecret(t)
	if err != nil {
		return err
	}
	step, ok := f.matchStep(secret, code, f.clock.Now(), t.LastStep)
	if !ok {
		return ErrInvalidCode
	}
	switch err := f.totp.UseStep(ctx, userID, step); {
	case errors.Is(err, domain.ErrConflict), errors.Is(err, domain.ErrNotFound):
		return ErrInvalidCode // replayed meanwhile, or the factor went away
	case err != nil:
		return fmt.Errorf("use TOTP step: %w", err)
	}
	return nil
}

// useRecoveryCode spends one of userID's recovery codes.
func (f *SecondFactors) useRecoveryCode(ctx context.Context, userID, code string) error {
	err := f.codes.Use(ctx, userID, hashRecoveryCode(code))
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return ErrInvalidCode
	case err != nil:
		return fmt.Errorf("use recovery code: %w", err)
	}
	return nil
}

// newRecoveryCodes replaces userID's recovery codes with domain.RecoveryCodeCount fresh ones and
// returns them in clear, the only time they exist so.
func (f *SecondFactors) newRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, domain.RecoveryCodeCount)
	hashes := make([][]byte, len(codes))
	for i := range codes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, fmt.Errorf("new recovery code: %w", err)
		}
		codes[i], hashes[i] = c, hashRecoveryCode(c)
	}
	if err := f.codes.Replace(ctx, userID, hashes, f.clock.Now()); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return codes, nil
}

// removeAll deletes every second factor of userID: TOTP, recovery codes and passkeys.
func (f *SecondFactors) removeAll(ctx context.Context, userID string) error {
	if err := f.totp.Delete(ctx, userID); err != nil {
		return fmt.Errorf("delete TOTP factor: %w", err)
	}
	if err := f.codes.DeleteByUser(ctx, userID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	if f.passkeys != nil {
		if err := f.passkeys.store.DeleteByUser(ctx, userID); err != nil {
			return fmt.Errorf("delete passkeys: %w", err)
		}
	}
	return nil
}

// recoveryAlphabet is lower-case base32 without padding: no 0/1/8/9 to confuse with O/I/L/B.
var recoveryAlphabet = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCode returns a code of 80 random bits, written as four groups of four characters
// ("abcd-efgh-ijkl-mnop").
func newRecoveryCode() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := recoveryAlphabet.EncodeToString(b) // 16 characters
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}

// hashRecoveryCode hashes a recovery code as typed: case, spaces and dashes do not matter. The
// codes carry 80 random bits, so a fast hash suffices, as for refresh tokens.
func hashRecoveryCode(code string) []byte {
	norm := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
	h := sha256.Sum256([]byte("portcullis recovery code v1\x00" + norm))
	return h[:]
}

// randomToken returns 256 random bits, base64url: an mfa_token, a WebAuthn ceremony id or an
// emailed one-time token.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken is how a challenge's token or an emailed one-time token is stored: SHA-256, as
// refresh tokens.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// MFAVerifyInput completes a login: the mfa_token and exactly one of Code (TOTP),
// RecoveryCode and Passkey (an assertion answering the options of a passkey begin with this
// mfa_token, as PublicKeyCredential JSON).
type MFAVerifyInput struct {
	MFAToken     string
	Code         string
	RecoveryCode string
	Passkey      []byte
}

// MFAVerify completes a password login with its second factor.
type MFAVerify struct {
	factors *SecondFactors
	opener  *loginOpener
	clock   ports.Clock
	audit   *Auditor
	log     *slog.Logger
}

// NewMFAVerify wires the second-factor verification.
func NewMFAVerify(factors *SecondFactors, users ports.UserStore, sessions ports.SessionStore, issuer ports.TokenIssuer,
	ids ports.IDSource, clock ports.Clock, settings Settings, audit *Auditor, log *slog.Logger) *MFAVerify {
	return &MFAVerify{factors: factors, clock: clock, audit: audit, log: log,
		opener: newLoginOpener(users, sessions, issuer, ids, clock, settings, audit, log)}
}

// secondFactor is the factor an MFAVerifyInput offers.
type secondFactor struct {
	method string // MethodTOTP, MethodRecoveryCode or MethodPasskey
	amr    string // what it adds to the session's amr
	detail string // for the audit record of a success (the passkey used)
}

// Handle takes the mfa_token (so no other request can use it meanwhile), checks the second
// factor and opens the session with the password's amr and the factor's. A wrong code gives
// the token back (until mfaAttempts wrong codes) and counts against the account's throttle; an
// unknown, expired or used token is ErrInvalidMFAToken; a wrong code ErrInvalidCode; a
// throttled account domain.ErrThrottled. The user is read again, as a password login does
// (see loginOpener): an account deleted, disabled or whose password changed since the
// password was checked gets no session (domain.ErrInvalidCredentials), one whose roles
// changed gets them.
func (v *MFAVerify) Handle(ctx context.Context, in MFAVerifyInput) (TokensOutput, error) {
	if err := in.validate(); err != nil {
		return TokensOutput{}, err
	}
	c, err := v.factors.pending.Take(ctx, hashToken(in.MFAToken), domain.ChallengeMFA, v.clock.Now())
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return TokensOutput{}, ErrInvalidMFAToken
	case err != nil:
		return TokensOutput{}, fmt.Errorf("take mfa token: %w", err)
	}
	if err := v.factors.throttle(ctx, c.UserID); err != nil {
		v.giveBack(ctx, c)
		return TokensOutput{}, err
	}
	f, err := v.check(ctx, c.UserID, in)
	if err != nil {
		return TokensOutput{}, v.refused(ctx, c, f, err)
	}
	v.factors.clearThrottle(ctx, c.UserID)
	return v.complete(ctx, c, f)
}

// validate checks that in offers exactly one second factor.
func (in MFAVerifyInput) validate() error {
	given := 0
	for _, set := range []bool{in.Code != "", in.RecoveryCode != "", len(in.Passkey) > 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return invalidField("code", "required", "give exactly one of code, recovery_code and passkey")
	}
	return nil
}

// check checks the second factor in offers for userID, spending it (a TOTP step, a recovery
// code, a passkey ceremony) when it is right.
func (v *MFAVerify) check(ctx context.Context, userID string, in MFAVerifyInput) (secondFactor, error) {
	switch {
	case in.Code != "":
		return secondFactor{method: MethodTOTP, amr: domain.AMROTP}, v.factors.checkTOTP(ctx, userID, in.Code)
	case in.RecoveryCode != "":
		return secondFactor{method: MethodRecoveryCode, amr: domain.AMROTP}, v.factors.useRecoveryCode(ctx, userID, in.RecoveryCode)
	}
	f := secondFactor{method: MethodPasskey, amr: domain.AMRHardware}
	if v.factors.passkeys == nil {
		return f, ErrInvalidCode
	}
	id, err := v.factors.passkeys.checkSecondFactor(ctx, userID, in.MFAToken, in.Passkey)
	f.detail = " passkey=" + id
	return f, err
}

// refused ends an attempt whose factor f did not check with err: the pending login c is given
// back, after a wrong code with one attempt more and a failure counted against the account.
func (v *MFAVerify) refused(ctx context.Context, c domain.Challenge, f secondFactor, err error) error {
	if errors.Is(err, ErrInvalidCode) {
		v.log.InfoContext(ctx, "second factor refused", "user_id", c.UserID, "method", f.method)
		if !errors.Is(err, ErrInvalidPasskey) { // a refused passkey is audited with its reason where it is checked
			v.audit.record(ctx, domain.EventMFAFailure, "", c.UserID, "bad_code", "method="+f.method)
		}
		c.Attempts++
		v.factors.attemptFailed(ctx, c.UserID)
	}
	v.giveBack(ctx, c)
	return err
}

// complete opens the session of the pending login c, whose second factor f checked.
func (v *MFAVerify) complete(ctx context.Context, c domain.Challenge, f secondFactor) (TokensOutput, error) {
	var state mfaState
	if err := json.Unmarshal(c.Data, &state); err != nil {
		return TokensOutput{}, fmt.Errorf("decode mfa state: %w", err)
	}
	u, outcome, err := v.opener.reread(ctx, c.UserID, state.Password)
	switch {
	case err != nil:
		return TokensOutput{}, err
	case outcome != "":
		return TokensOutput{}, v.opener.refuse(ctx, c.UserID, outcome)
	}
	amr := appendMethod(state.AMR, f.amr)
	out, err := v.opener.open(ctx, u, amr)
	if err != nil {
		return TokensOutput{}, err
	}
	v.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", out.SessionID, "outcome", "ok", "method", f.method)
	v.audit.record(ctx, domain.EventMFASuccess, u.ID, u.ID, "ok", "method="+f.method+f.detail)
	v.audit.record(ctx, domain.EventLoginSuccess, u.ID, u.ID, "ok", "session="+out.SessionID+" amr="+strings.Join(amr, "+"))
	return out, nil
}

// giveBack puts a pending login back after a failed attempt, unless it has had its attempts or
// expired. A failure to do so only means the user starts over with the password.
func (v *MFAVerify) giveBack(ctx context.Context, c domain.Challenge) {
	if c.Attempts >= mfaAttempts || !v.clock.Now().Before(c.ExpiresAt) {
		return
	}
	if err := v.factors.pending.Put(context.WithoutCancel(ctx), c); err != nil {
		v.log.WarnContext(ctx, "mfa token could not be given back", "user_id", c.UserID, "error", err)
	}
}

// appendMethod returns amr with m added once.
func appendMethod(amr []string, m string) []string {
	out := make([]string, 0, len(amr)+1)
	for _, a := range amr {
		if a != m {
			out = append(out, a)
		}
	}
	return append(out, m)
}
