package jwxtoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis-auth/portcullis/domain"
)

const (
	// MaxTokenLength is the longest token Verify looks at; anything longer is refused unread.
	MaxTokenLength = 8 << 10
	// maxHeaderLength bounds the encoded protected header (ours is about 120 characters).
	maxHeaderLength = 1 << 10
	// missingDate marks a numeric date the payload did not carry.
	missingDate = math.MinInt64
)

// The reasons Verify gives; each wraps domain.ErrUnauthenticated. They are allocated once so
// that refusing garbage costs nothing.
var (
	errMalformed = reason("malformed token")
	errHeader    = reason("unacceptable token header")
	errKey       = reason("unknown signing key")
	errSignature = reason("signature does not verify")
	errClaims    = reason("invalid token claims")
	errIssuer    = reason("wrong issuer or audience")
	errExpired   = reason("token expired")
	errNotYet    = reason("token not valid yet")
)

func reason(s string) error { return fmt.Errorf("%w: %s", domain.ErrUnauthenticated, s) }

// b64 is the only base64 accepted: base64url, no padding, zero trailing bits (one spelling per
// value, so a token cannot be altered without changing what is signed).
var b64 = base64.RawURLEncoding.Strict()

// header is what Verify reads of a protected header it has not issued itself. Any crit, b64,
// enc or zip member, even null, refuses the token: this package understands no extensions, and
// the last two mark a JWE.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
	Enc  json.RawMessage `json:"enc"`
	Zip  json.RawMessage `json:"zip"`
}

// Verify checks an access token and returns its claims. Every failure wraps
// domain.ErrUnauthenticated. It looks keys up only in memory, by kid, and verifies only with the
// key's own algorithm; see the package documentation for the order of checks.
func (t *Tokens) Verify(_ context.Context, token string) (domain.AccessClaims, error) {
	hdr, payload, sig, ok := splitCompact(token)
	if !ok {
		return domain.AccessClaims{}, errMalformed
	}
	ring := t.ring.Load()
	now := t.clock.Now()
	if t.cache != nil {
		if c, ok := t.cache.get(token, ring, now); ok {
			return c, nil // these exact bytes passed every check below before (cache.go)
		}
	}
	key, err := ring.keyFor(hdr, now)
	if err != nil {
		return domain.AccessClaims{}, err
	}
	var sigBuf [512]byte
	signature, err := key.decodeSignature(sig, sigBuf[:])
	if err != nil {
		return domain.AccessClaims{}, err
	}
	// The payload must be canonical too before its signature is worth checking.
	body := make([]byte, b64.DecodedLen(len(payload)))
	bodyLen, err := b64.Decode(body, []byte(payload))
	if err != nil {
		return domain.AccessClaims{}, errMalformed
	}
	signed := token[:len(hdr)+1+len(payload)] // header.payload
	if err := key.verifier.Verify([]byte(signed), signature, key.pub); err != nil {
		return domain.AccessClaims{}, errSignature
	}
	c, err := t.claims(body[:bodyLen], now)
	if err == nil && t.cache != nil {
		t.cache.put(token, key, c, now)
	}
	return c, err
}

// splitCompact checks the shape of a compact JWS before anything is decoded — a bounded
// length, only base64url characters and dots, exactly three non-empty parts, a header of at
// most maxHeaderLength — and returns its parts; ok is false for any other shape.
func splitCompact(token string) (hdr, payload, sig string, ok bool) {
	if len(token) == 0 || len(token) > MaxTokenLength {
		return "", "", "", false
	}
	// Only base64url characters and dots: no padding, whitespace (which Go's decoder would
	// skip), standard-alphabet characters or JSON.
	for i := 0; i < len(token); i++ {
		if !tokenChar[token[i]] {
			return "", "", "", false
		}
	}
	d1 := strings.IndexByte(token, '.')
	if d1 <= 0 || d1 > maxHeaderLength {
		return "", "", "", false
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 <= 0 {
		return "", "", "", false
	}
	d2 += d1 + 1
	if d2 == len(token)-1 || strings.IndexByte(token[d2+1:], '.') >= 0 {
		return "", "", "", false
	}
	return token[:d1], token[d1+1 : d2], token[d2+1:], true
}

// keyFor returns the key a token's header names, if it is still valid at now.
func (r *keyring) keyFor(hdr string, now time.Time) (*verifyKey, error) {
	key := r.headers[hdr] // a header exactly as we issue it needs no parsing
	if key == nil {
		var err error
		if key, err = r.parseHeader(hdr); err != nil {
			return nil, err
		}
	}
	if !key.until.IsZero() && !now.Before(key.until) {
		return nil, errKey
	}
	return key, nil
}

// decodeSignature decodes sig, which must have the exact length for the key, into buf (or a
// larger buffer when buf is too small) and returns the signature.
func (k *verifyKey) decodeSignature(sig string, buf []byte) ([]byte, error) {
	if len(sig) != base64.RawURLEncoding.EncodedLen(k.sigLen) {
		return nil, errSignature
	}
	if k.sigLen > len(buf) { // RSA keys over 4096 bits
		buf = make([]byte, k.sigLen)
	}
	n, err := b64.Decode(buf, []byte(sig))
	if err != nil || n != k.sigLen {
		return nil, errMalformed
	}
	signature := buf[:n]
	if k.alg == jwa.ES256 && (allZero(signature[:32]) || allZero(signature[32:])) {
		return nil, errSignature // r or s zero (CVE-2022-21449 class)
	}
	return signature, nil
}

// parseHeader decodes and checks a header this package did not issue byte for byte, and
// returns the key it names.
func (r *keyring) parseHeader(seg string) (*verifyKey, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return nil, errMalformed
	}
	var h header
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, errHeader
	}
	if len(h.Crit) != 0 || len(h.B64) != 0 || len(h.Enc) != 0 || len(h.Zip) != 0 {
		return nil, errHeader
	}
	if strings.EqualFold(h.Alg, "none") || h.Alg == "" {
		return nil, errHeader
	}
	if !isAccessTokenType(h.Typ) {
		return nil, errHeader
	}
	key := r.byKID[h.Kid] // never anything but this in-memory lookup
	if key == nil {
		return nil, errKey
	}
	if string(key.alg) != h.Alg {
		return nil, errHeader // the algorithm is the key's, never the token's choice
	}
	return key, nil
}

// isAccessTokenType accepts "at+jwt", in any case, with or without the "application/" prefix
// (RFC 7515 §4.1.9, RFC 9068 §2.1).
func isAccessTokenType(typ string) bool {
	typ, _ = strings.CutPrefix(strings.ToLower(typ), "application/")
	return typ == accessTokenType
}

// claims decodes the verified payload strictly and checks issuer, audience and time.
func (t *Tokens) claims(body []byte, now time.Time) (domain.AccessClaims, error) {
	c := wireClaims{Iat: missingDate, Nbf: missingDate, Exp: missingDate}
	// Numeric dates must be JSON integers: a string, a fraction or a number beyond int64 fails.
	if err := json.Unmarshal(body, &c); err != nil {
		return domain.AccessClaims{}, errClaims
	}
	if c.Iat == missingDate || c.Nbf == missingDate || c.Exp == missingDate ||
		c.Sub == "" || c.Sid == "" || c.Jti == "" || c.Exp <= c.Iat {
		return domain.AccessClaims{}, errClaims
	}
	if c.Iss != t.cfg.Issuer || c.Aud != t.cfg.Audience {
		return domain.AccessClaims{}, errIssuer
	}
	s := now.Unix()
	switch {
	case c.Exp > s+t.ttlSecs+t.leeway:
		return domain.AccessClaims{}, errClaims // lives longer than any token we issue
	case s >= c.Exp+t.leeway:
		return domain.AccessClaims{}, errExpired
	case c.Nbf > s+t.leeway, c.Iat > s+t.leeway:
		return domain.AccessClaims{}, errNotYet
	}
	return domain.AccessClaims{
		Subject: c.Sub, SessionID: c.Sid, Roles: c.Roles, ID: c.Jti,
		IssuedAt: time.Unix(c.Iat, 0), ExpiresAt: time.Unix(c.Exp, 0), AMR: c.AMR, ACR: c.ACR,
	}, nil
}

// tokenChar marks the bytes a compact JWS may contain: the base64url alphabet and '.'.
var tokenChar = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
