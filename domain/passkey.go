package domain

import (
	"time"
	"unicode/utf8"
)

// Passkey is a WebAuthn credential a user registered: a key pair whose private half stays in the
// user's authenticator (a phone, a security key, a password manager). ID is Portcullis's own id
// of it (what the API names); CredentialID is the authenticator's id of it, unique among all
// users. SignCount is the authenticator's signature counter as last seen: an authenticator that
// keeps one raises it with every assertion, so a count that does not rise betrays a clone
// (authenticators that keep none always send 0). Credential is the relying party's record of
// the credential (public key, flags, attestation) as the WebAuthn adapter encodes it, opaque
// here.
type Passkey struct {
	ID           string
	UserID       string
	CredentialID []byte
	Name         string
	SignCount    uint32
	Credential   []byte
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero until first used
}

// PasskeyNameMax is the longest passkey name, in characters.
const PasskeyNameMax = 64

// ValidPasskeyName reports whether name is a passkey name: 1 to PasskeyNameMax characters of
// valid UTF-8.
func ValidPasskeyName(name string) bool {
	n := utf8.RuneCountInString(name)
	return utf8.ValidString(name) && n >= 1 && n <= PasskeyNameMax
}

// SignCountAdvances reports whether an assertion's signature counter next may follow the stored
// one: it must rise, unless the authenticator keeps no counter (both zero). A counter that stays
// or goes back is a cloned credential's, and refused.
func SignCountAdvances(stored, next uint32) bool {
	if stored == 0 && next == 0 {
		return true
	}
	return next > stored
}
