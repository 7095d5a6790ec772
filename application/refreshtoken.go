package application

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// A refresh token is "<session id>.<secret>": the session id lets the store find the session in
// one lookup, the secret is 256 bits from crypto/rand. Only SHA-256 of the whole token is stored.

const refreshSecretBytes = 32

var errMalformedRefresh = errors.New("malformed refresh token")

func newRefreshToken(sessionID string) (string, error) {
	b := make([]byte, refreshSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return sessionID + "." + base64.RawURLEncoding.EncodeToString(b), nil
}

// parseRefreshToken returns the session id of a well-formed token.
func parseRefreshToken(token string) (string, error) {
	sid, secret, ok := strings.Cut(token, ".")
	if !ok || sid == "" || len(sid) > 64 || !isIDToken(sid) {
		return "", errMalformedRefresh
	}
	b, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(b) != refreshSecretBytes {
		return "", errMalformedRefresh
	}
	return sid, nil
}

// isIDToken reports whether id has only the characters of our ids (UUIDs): letters, digits,
// '-' and '_'. Anything else (a NUL, a control byte, Redis glob or hash-tag characters) never
// reaches a store.
func isIDToken(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func hashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// sealKey derives the key that seals a successor from its predecessor token. Only a holder of
// the predecessor can unseal the successor; the store holds neither in clear.
func sealKey(predecessor string) []byte {
	h := sha256.Sum256([]byte("portcullis refresh successor v1\x00" + predecessor))
	return h[:]
}

func sealSuccessor(predecessor, successor string) ([]byte, error) {
	gcm, err := successorAEAD(predecessor)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(successor)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, []byte(successor), nil), nil
}

func unsealSuccessor(predecessor string, sealed []byte) (string, error) {
	gcm, err := successorAEAD(predecessor)
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize() {
		return "", errMalformedRefresh
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

func successorAEAD(predecessor string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(sealKey(predecessor))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
