package domain

import (
	"slices"
	"time"
)

// Authentication methods, as the amr claim of access tokens names them (RFC 8176).
const (
	AMRPassword = "pwd"  // a password
	AMROTP      = "otp"  // a one-time password: a TOTP code or a recovery code
	AMRHardware = "hwk"  // a proof of possession of a hardware-bound key: a passkey
	AMRUser     = "user" // the authenticator verified its user (PIN, biometrics)
)

// Authentication context classes (the acr claim): one factor, or two.
const (
	ACRSingleFactor = "aal1"
	ACRMultiFactor  = "aal2"
)

// ACR is the authentication context class reached by the methods of amr: two factors (a password
// with a code, or a passkey) are ACRMultiFactor, anything else ACRSingleFactor. A passkey is a
// possession factor verified by the authenticator (PIN or biometrics), hence two factors alone.
func ACR(amr []string) string {
	if MultiFactor(amr) {
		return ACRMultiFactor
	}
	return ACRSingleFactor
}

// MultiFactor reports whether amr records a second factor (a code or a passkey).
func MultiFactor(amr []string) bool {
	return slices.Contains(amr, AMROTP) || slices.Contains(amr, AMRHardware)
}

// TOTPPeriod is the time step of TOTP codes (RFC 6238's default, what every authenticator app
// uses); TOTPSkew is how many steps before or after the current one are accepted.
const (
	TOTPPeriod = 30 * time.Second
	TOTPSkew   = 1
	TOTPDigits = 6
)

// TOTPStep is the RFC 6238 time step that t falls in.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPFactor is a user's TOTP authenticator. Secret is the shared secret sealed with the
// key-encryption key (never the secret in clear). A factor is pending until its first code
// confirms it; only a confirmed factor is a second factor. LastStep is the latest time step a
// code was accepted for: a code of that step or an earlier one is never accepted again, so a
// code works once.
type TOTPFactor struct {
	UserID      string
	Secret      []byte
	Confirmed   bool
	CreatedAt   time.Time
	ConfirmedAt time.Time
	LastStep    int64
}

// RecoveryCodeCount is how many recovery codes a user gets at once.
const RecoveryCodeCount = 10

// ChallengePurpose says what a short-lived challenge is for; one of one purpose is never found
// under another.
type ChallengePurpose string

// The purposes of challenges.
const (
	// ChallengeMFA is a password login waiting for its second factor (the mfa_token).
	ChallengeMFA ChallengePurpose = "mfa"
	// ChallengePasskeyRegister is a passkey registration under way.
	ChallengePasskeyRegister ChallengePurpose = "passkey_register"
	// ChallengePasskeyLogin is a passkey login under way.
	ChallengePasskeyLogin ChallengePurpose = "passkey_login"
	// ChallengePasskeyMFA is a passkey assertion under way as the second factor of a password
	// login; its hash is the mfa_token's.
	ChallengePasskeyMFA ChallengePurpose = "passkey_mfa"
)

// Challenge is short-lived, single-use state between two requests: a login waiting for its
// second factor, or a WebAuthn ceremony. The token that names it is never stored: Hash is its
// SHA-256. Data is opaque to the store. Attempts counts failed uses (a wrong code), so a
// challenge given back after a failure can be retired after a few.
type Challenge struct {
	Hash      []byte
	Purpose   ChallengePurpose
	UserID    string // "" for a passkey login, whose user is not known yet
	Data      []byte
	Attempts  int
	CreatedAt time.Time
	ExpiresAt time.Time
}
