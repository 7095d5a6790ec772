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
	// ErrMFARequired: the route demands a second factor the session was not opened with.
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

// mfaState is what a pending login keeps in its challenge.
type mfaState struct {
	AMR []string `json:"amr"`
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
// recovery_code (unused codes left) and passkey. None means a password alone logs in.
func (f *SecondFactors) Methods(ctx context.Context, userID string) ([]string, error) {
	var out []string
	t, err := f.totp.Get(ctx, userID)
	switch {
	case err == nil && t.Confirmed:
		out = append(out, MethodTOTP)
	case err != nil && !errors.Is(err, domain.ErrNotFound):
		return nil, fmt.Errorf("load TOTP factor: %w", err)
	}
	if len(out) > 0 {
		n, err := f.codes.Count(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("count recovery codes: %w", err)
		}
		if n > 0 {
			out = append(out, MethodRecoveryCode)
		}
	}
	if f.passkeys != nil {
		has, err := f.passkeys.hasPasskey(ctx, userID)
		if err != nil {
			return nil, err
		}
		if has {
			out = append(out, MethodPasskey)
		}
	}
	return out, nil
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
	data, err := json.Marshal(mfaState{AMR: amr})
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

// throttle returns a domain.ErrThrottled error while userID is delayed or locked: wrong codes
// are throttled exactly like wrong passwords, by one rule.
func (f *SecondFactors) throttle(ctx context.Context, userID string) error {
	return f.limits.CheckLogin(ctx, userID)
}

// failed counts a wrong code (or password) against userID, as a failed login of the account.
func (f *SecondFactors) failed(ctx context.Context, userID string) {
	f.limits.LoginFailed(ctx, userID)
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
	factors  *SecondFactors
	users    ports.UserStore
	sessions ports.SessionStore
	tokens   *tokenMinter
	ids      ports.IDSource
	clock    ports.Clock
	settings Settings
	audit    *Auditor
	log      *slog.Logger
}

// NewMFAVerify wires the second-factor verification.
func NewMFAVerify(factors *SecondFactors, users ports.UserStore, sessions ports.SessionStore, issuer ports.TokenIssuer,
	ids ports.IDSource, clock ports.Clock, settings Settings, audit *Auditor, log *slog.Logger) *MFAVerify {
	return &MFAVerify{factors: factors, users: users, sessions: sessions, ids: ids, clock: clock, settings: settings,
		audit: audit, log: log, tokens: &tokenMinter{issuer: issuer, ids: ids, ttl: settings.AccessTTL}}
}

// Handle takes the mfa_token (so no other request can use it meanwhile), checks the code and
// opens the session with amr pwd+otp. A wrong code gives the token back (until mfaAttempts
// wrong codes) and counts against the account's throttle; an unknown, expired or used token is
// ErrInvalidMFAToken; a wrong code ErrInvalidCode; a throttled account domain.ErrThrottled.
func (v *MFAVerify) Handle(ctx context.Context, in MFAVerifyInput) (TokensOutput, error) {
	given := 0
	for _, set := range []bool{in.Code != "", in.RecoveryCode != "", len(in.Passkey) > 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return TokensOutput{}, invalidField("code", "required", "give exactly one of code, recovery_code and passkey")
	}
	now := v.clock.Now()
	c, err := v.factors.pending.Take(ctx, hashToken(in.MFAToken), domain.ChallengeMFA, now)
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
	method, amrMethod, detail := MethodTOTP, domain.AMROTP, ""
	switch {
	case in.Code != "":
		err = v.factors.checkTOTP(ctx, c.UserID, in.Code)
	case in.RecoveryCode != "":
		method = MethodRecoveryCode
		err = v.factors.useRecoveryCode(ctx, c.UserID, in.RecoveryCode)
	case v.factors.passkeys == nil:
		err = ErrInvalidCode
	default:
		var id string
		method, amrMethod = MethodPasskey, domain.AMRHardware
		if id, err = v.factors.passkeys.checkSecondFactor(ctx, c.UserID, in.MFAToken, in.Passkey); err == nil {
			detail = " passkey=" + id
		}
	}
	if errors.Is(err, ErrInvalidCode) {
		v.log.InfoContext(ctx, "second factor refused", "user_id", c.UserID, "method", method)
		if method != MethodPasskey { // a refused passkey is audited with its reason where it is checked
			v.audit.record(ctx, domain.EventMFAFailure, "", c.UserID, "bad_code", "method="+method)
		}
		c.Attempts++
		v.giveBack(ctx, c)
		v.factors.failed(ctx, c.UserID)
		return TokensOutput{}, err
	}
	if err != nil {
		v.giveBack(ctx, c)
		return TokensOutput{}, err
	}
	v.factors.clearThrottle(ctx, c.UserID)
	var state mfaState
	if err := json.Unmarshal(c.Data, &state); err != nil {
		return TokensOutput{}, fmt.Errorf("decode mfa state: %w", err)
	}
	u, err := v.users.ByID(ctx, c.UserID)
	switch {
	case errors.Is(err, domain.ErrNotFound) || (err == nil && u.Disabled):
		v.audit.record(ctx, domain.EventLoginFailure, "", c.UserID, "disabled_during_login", "")
		return TokensOutput{}, domain.ErrInvalidCredentials
	case err != nil:
		return TokensOutput{}, fmt.Errorf("load user: %w", err)
	}
	amr := appendMethod(state.AMR, amrMethod)
	out, err := openSession(ctx, v.sessions, v.tokens, v.ids, v.settings, v.clock.Now(), u, amr)
	if err != nil {
		return TokensOutput{}, err
	}
	view := viewOf(u)
	out.User = &view
	v.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", out.SessionID, "outcome", "ok", "method", method)
	v.audit.record(ctx, domain.EventMFASuccess, u.ID, u.ID, "ok", "method="+method+detail)
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
