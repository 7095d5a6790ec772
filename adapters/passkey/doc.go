// Package passkey implements ports.WebAuthn with github.com/go-webauthn/webauthn: the relying
// party's half of WebAuthn ceremonies, the options for navigator.credentials and the checks of
// registrations and assertions (challenge, origin, relying-party id, signature, flags). Ceremony
// state and credential records are JSON, opaque to the core, kept by the challenge and passkey
// stores. The signature counter is reported, not judged: the application refuses one that does
// not advance (domain.SignCountAdvances) and the store enforces it atomically.
package passkey
