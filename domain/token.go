package domain

import "time"

// AccessClaims are what an access token asserts. Issuer and audience are added by the issuer.
type AccessClaims struct {
	Subject   string // user id
	SessionID string
	Roles     []Role
	ID        string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
	AMR       []string // authentication methods of the session (RFC 8176 values); empty in tokens from before MFA
	ACR       string   // authentication context class, ACR(AMR)
}

// SigningKey is a token-signing key as the key store holds it. Private is the private key in
// PKCS#8 DER (or the HMAC secret) sealed by the key store's key-encryption key; it never leaves
// the token adapter in clear.
type SigningKey struct {
	ID        string // kid
	Algorithm string // EdDSA, ES256, RS256, HS256
	Private   []byte
	CreatedAt time.Time
	// RetiredAt is zero for the active key. A retired key still verifies until
	// RetiredAt + access TTL and stays in the JWKS until then.
	RetiredAt time.Time
}
