package jwxtoken

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealVersion prefixes every sealed blob so that the format can change later.
const sealVersion byte = 1

// KeyEncryptionKeySize is the length in bytes of Config.KeyEncryptionKey (AES-256).
const KeyEncryptionKeySize = 32

// errUnseal is returned for any blob that does not open: wrong key, wrong kid, tampering,
// truncation or an unknown version. It says nothing about which.
var errUnseal = errors.New("sealed key does not open (wrong key-encryption key or tampered)")

// Seal encrypts plaintext with AES-256-GCM under kek, binding it to kid as associated data, and
// returns version || nonce || ciphertext. The nonce is random, so sealing the same key twice
// gives different blobs.
func Seal(kek []byte, kid string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal key: nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, []byte(kid)), nil
}

// Unseal reverses Seal. It fails when kek or kid differ from those used to seal, or when the
// blob was altered.
func Unseal(kek []byte, kid string, sealed []byte) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != sealVersion {
		return nil, errUnseal
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(kid))
	if err != nil {
		return nil, errUnseal
	}
	return plain, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KeyEncryptionKeySize {
		return nil, fmt.Errorf("key-encryption key must be %d bytes, got %d", KeyEncryptionKeySize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// SecretBox implements ports.SecretBox with the sealing of signing keys (AES-256-GCM under the
// key-encryption key, the label as associated data), for other secrets kept at rest such as
// TOTP secrets. Safe for concurrent use.
type SecretBox struct {
	kek []byte
}

// NewSecretBox returns a SecretBox sealing under kek, which must be KeyEncryptionKeySize bytes.
func NewSecretBox(kek []byte) (*SecretBox, error) {
	if len(kek) != KeyEncryptionKeySize {
		return nil, fmt.Errorf("key-encryption key must be %d bytes, got %d", KeyEncryptionKeySize, len(kek))
	}
	return &SecretBox{kek: kek}, nil
}

// Seal encrypts plaintext bound to label.
func (b *SecretBox) Seal(label string, plaintext []byte) ([]byte, error) {
	return Seal(b.kek, label, plaintext)
}

// Open decrypts what Seal sealed under the same label; any other label, key or an altered
// value fails.
func (b *SecretBox) Open(label string, sealed []byte) ([]byte, error) {
	return Unseal(b.kek, label, sealed)
}
