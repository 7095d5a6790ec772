package jwxtoken

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Supported algorithms (Config.Alg).
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
	HS256 = "HS256"
)

const (
	// rsaGenerateBits is the size of generated RSA keys.
	rsaGenerateBits = 3072
	// rsaMinBits is the smallest RSA key accepted from a file.
	rsaMinBits = 2048
	// MinSecretLength is the shortest HS256 secret accepted (256 bits).
	MinSecretLength = 32
	// accessTokenType is the typ header of access tokens (RFC 9068).
	accessTokenType = "at+jwt"
)

// material is one key in clear, as the keyring is built from.
type material struct {
	kid       string
	alg       jwa.SignatureAlgorithm
	priv      any // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey or []byte (HS256)
	pub       any // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey or []byte (HS256)
	createdAt time.Time
	retiredAt time.Time
}

// generate makes a new private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaGenerateBits)
	}
	return nil, fmt.Errorf("cannot generate a key for %q", alg)
}

// publicFor checks that priv is a key alg can sign with and returns its public half.
func publicFor(alg string, priv any) (any, error) {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		if alg == EdDSA && len(k) == ed25519.PrivateKeySize {
			return k.Public(), nil
		}
	case *ecdsa.PrivateKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return &k.PublicKey, nil
		}
	case *rsa.PrivateKey:
		if alg == RS256 {
			if k.N.BitLen() < rsaMinBits {
				return nil, fmt.Errorf("RSA key of %d bits is too small, want at least %d", k.N.BitLen(), rsaMinBits)
			}
			return &k.PublicKey, nil
		}
	}
	return nil, fmt.Errorf("a %T cannot sign %s", priv, alg)
}

// thumbprintKID is the RFC 7638 SHA-256 thumbprint of pub, base64url: a kid that every instance
// derives identically from the same key.
func thumbprintKID(pub any) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("jwk from key: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// secretKID names an HS256 secret without revealing anything about it.
func secretKID(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("portcullis hs256 kid"))
	return "hs-" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// parsePEMKey reads the first private key in a PEM file: PKCS#8 ("PRIVATE KEY"), SEC1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). Other blocks (EC PARAMETERS, certificates)
// are skipped.
func parsePEMKey(data []byte) (any, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PEM keys are not supported; decrypt it first")
		}
	}
}

// verifyKey is one key that verifies tokens.
type verifyKey struct {
	kid      string
	alg      jwa.SignatureAlgorithm
	pub      any
	verifier jws.Verifier
	sigLen   int       // exact signature length for alg and key
	until    time.Time // zero for a key that is not retired
}

// signKey is one key that can sign, in the window [from, to).
type signKey struct {
	kid    string
	alg    jwa.SignatureAlgorithm
	priv   any
	signer jws.Signer
	prefix string // base64url(header) + "."
	from   time.Time
	to     time.Time // zero: no end
}

// keyring is an immutable snapshot of the keys; Reload and RotateSigningKey swap in a new one.
type keyring struct {
	byKID   map[string]*verifyKey
	headers map[string]*verifyKey // encoded header exactly as we issue it -> key
	signers []*signKey            // newest first
	jwks    []byte
}

// signerAt returns the key that signs at now: the newest one whose window contains now. When
// none does because this instance's clock is behind the one that added the key, it takes the
// unretired key that starts soonest rather than failing.
func (r *keyring) signerAt(now time.Time) (*signKey, error) {
	var soonest *signKey
	for _, s := range r.signers {
		if !s.to.IsZero() && !now.Before(s.to) {
			continue
		}
		if !now.Before(s.from) {
			return s, nil
		}
		if soonest == nil || s.from.Before(soonest.from) {
			soonest = s
		}
	}
	if soonest != nil {
		return soonest, nil
	}
	return nil, errors.New("no active signing key")
}

// buildRing makes a keyring from mats. Retired keys past their verification window are left out.
func buildRing(mats []material, verifyWindow time.Duration, now time.Time) (*keyring, error) {
	r := &keyring{byKID: make(map[string]*verifyKey, len(mats)), headers: make(map[string]*verifyKey, len(mats))}
	set := jwk.NewSet()
	publish := false
	slices.SortFunc(mats, func(a, b material) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return strings.Compare(b.kid, a.kid)
	})
	for _, m := range mats {
		var until time.Time
		if !m.retiredAt.IsZero() {
			until = m.retiredAt.Add(verifyWindow)
			if !now.Before(until) {
				continue
			}
		}
		if err := r.add(m, until); err != nil {
			return nil, err
		}
		if m.alg == jwa.HS256 {
			continue // a shared secret is never published
		}
		pk, err := publicJWK(m)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(pk); err != nil {
			return nil, fmt.Errorf("add %s to the key set: %w", m.kid, err)
		}
		publish = true
	}
	if publish {
		b, err := json.Marshal(set)
		if err != nil {
			return nil, fmt.Errorf("encode the key set: %w", err)
		}
		r.jwks = b
	} else {
		r.jwks = []byte(`{"keys":[]}`)
	}
	return r, nil
}

// add puts m into the ring: verifiable by its kid and by its exact encoded header until until
// (zero: not retired), and able to sign in its window.
func (r *keyring) add(m material, until time.Time) error {
	if _, dup := r.byKID[m.kid]; dup {
		return fmt.Errorf("two keys with kid %q", m.kid)
	}
	verifier, err := jws.NewVerifier(m.alg)
	if err != nil {
		return fmt.Errorf("verifier for %s: %w", m.alg, err)
	}
	signer, err := jws.NewSigner(m.alg)
	if err != nil {
		return fmt.Errorf("signer for %s: %w", m.alg, err)
	}
	vk := &verifyKey{kid: m.kid, alg: m.alg, pub: m.pub, verifier: verifier, sigLen: signatureLength(m.alg, m.pub), until: until}
	prefix, err := encodedHeader(m.alg, m.kid)
	if err != nil {
		return err
	}
	r.byKID[m.kid] = vk
	r.headers[prefix] = vk
	r.signers = append(r.signers, &signKey{
		kid: m.kid, alg: m.alg, priv: m.priv, signer: signer, prefix: prefix + ".",
		from: m.createdAt, to: m.retiredAt,
	})
	return nil
}

// publicJWK is m's public key as published in the JWKS, with its kid, alg and use.
func publicJWK(m material) (jwk.Key, error) {
	pk, err := jwk.FromRaw(m.pub)
	if err != nil {
		return nil, fmt.Errorf("jwk for %s: %w", m.kid, err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: m.kid, jwk.AlgorithmKey: m.alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pk.Set(name, v); err != nil {
			return nil, fmt.Errorf("jwk %s of %s: %w", name, m.kid, err)
		}
	}
	return pk, nil
}

// encodedHeader is base64url of the protected header this package issues for a key.
func encodedHeader(alg jwa.SignatureAlgorithm, kid string) (string, error) {
	h := jws.NewHeaders()
	for name, v := range map[string]any{jws.AlgorithmKey: alg, jws.KeyIDKey: kid, jws.TypeKey: accessTokenType} {
		if err := h.Set(name, v); err != nil {
			return "", fmt.Errorf("header %s: %w", name, err)
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode header: %w", err)
	}
	// jwx may end its JSON with a newline; the header must be exactly the object.
	return base64.RawURLEncoding.EncodeToString(bytes.TrimSpace(b)), nil
}

// signatureLength is the exact length of a signature by alg with pub.
func signatureLength(alg jwa.SignatureAlgorithm, pub any) int {
	switch alg {
	case jwa.EdDSA:
		return ed25519.SignatureSize
	case jwa.ES256:
		return 64
	case jwa.HS256:
		return sha256.Size
	case jwa.RS256:
		if k, ok := pub.(*rsa.PublicKey); ok {
			return k.Size()
		}
	}
	return -1
}
