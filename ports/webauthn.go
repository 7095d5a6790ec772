package ports

import (
	"errors"

	"github.com/portcullis-auth/portcullis/domain"
)

// ErrPasskeysOff: passkeys cannot work here, because the relying-party id is not a domain name
// (WebAuthn binds credentials to a domain; a service reached by IP address has none).
var ErrPasskeysOff = errors.New("passkeys are off: the relying-party id must be a domain name " +
	"(PORTCULLIS_PUBLIC_URL with a host name, or PORTCULLIS_PASSKEY_RP_ID)")

// PasskeyUser is the account a WebAuthn ceremony is for. ID is the user handle an authenticator
// keeps with a discoverable credential and hands back at login.
type PasskeyUser struct {
	ID          string
	Name        string // e.g. the email address: which account, as the authenticator lists it
	DisplayName string
}

// PasskeyAssertion is what a checked login assertion tells: the authenticator's signature
// counter, whether it verified its user (PIN, biometrics), and the credential record as it
// should be stored from now on (flags updated).
type PasskeyAssertion struct {
	SignCount    uint32
	UserVerified bool
	Credential   []byte
}

// WebAuthn is the relying party's half of WebAuthn ceremonies. It makes the options a browser
// hands to navigator.credentials.create and .get (JSON, opaque to the caller) with the state
// to keep until the answer comes, and checks the answer (the PublicKeyCredential as JSON)
// against that state: the challenge, the origin, the relying-party id, the signature, the
// flags. An answer that does not check is domain.ErrInvalidCredentials. The signature counter
// is reported, not judged: that is domain.SignCountAdvances and ports.Passkeys.Use.
type WebAuthn interface {
	// BeginRegistration returns creation options for a new discoverable credential of user
	// that none of existing (the user's passkeys) is, and the ceremony's state.
	BeginRegistration(user PasskeyUser, existing []domain.Passkey) (options, state []byte, err error)
	// FinishRegistration checks response against state and returns the new passkey with its
	// CredentialID, SignCount and Credential set.
	FinishRegistration(user PasskeyUser, state, response []byte) (domain.Passkey, error)
	// BeginLogin returns request options and the ceremony's state: for user's passkeys allowed
	// (a second factor), or, with user nil, for any discoverable credential (a login by passkey
	// alone, which then demands user verification).
	BeginLogin(user *PasskeyUser, allowed []domain.Passkey) (options, state []byte, err error)
	// AssertionCredential returns the credential id and user handle an assertion claims,
	// unchecked, so the caller can load the passkey to check it against.
	AssertionCredential(response []byte) (credentialID []byte, userHandle string, err error)
	// FinishLogin checks response, an assertion by passkey p of user, against state.
	FinishLogin(user PasskeyUser, p domain.Passkey, state, response []byte) (PasskeyAssertion, error)
}
