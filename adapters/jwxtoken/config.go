package jwxtoken

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config sets up Tokens.
type Config struct {
	// Alg is the signing algorithm: "EdDSA", "ES256", "RS256" or "HS256".
	Alg string
	// Issuer and Audience are the iss and aud claims issued and required. Both must be set.
	Issuer   string
	Audience string
	// AccessTTL is the longest lifetime of an access token (at least a second). Issue refuses
	// claims that live longer, and Verify refuses tokens that expire later than now + AccessTTL +
	// Leeway.
	AccessTTL time.Duration
	// Leeway is the clock skew allowed when checking exp, nbf and iat (0 to 5 minutes).
	Leeway time.Duration
	// KeyFile, when set, is a PEM private key (PKCS#8, SEC1 or PKCS#1) of algorithm Alg; it is
	// then the only signing key and the key store is not used.
	KeyFile string
	// Secret is the HS256 secret (at least 32 bytes); required with HS256 and only with it.
	Secret []byte
	// KeyEncryptionKey (32 bytes) seals the private keys kept in the key store (AES-256-GCM, the
	// kid as associated data). Required unless KeyFile or Secret is set; every instance must
	// share it.
	KeyEncryptionKey []byte
	// ReloadInterval is how often Module's poller re-reads the key store (zero or negative: no
	// poller).
	ReloadInterval time.Duration
	// PublishAhead is how long a rotated-in key is published before it signs (default twice
	// ReloadInterval; negative: it signs at once). Every instance must reload within it.
	PublishAhead time.Duration
	// CacheSize is how many verified tokens Verify remembers (see verifiedCache); zero or
	// negative: no cache.
	CacheSize int
}

// withDefaults derives what follows from the other fields. The settings themselves have no
// defaults here: the configuration (config.Config, its envDefault tags) is their one source.
func (c Config) withDefaults() Config {
	if c.PublishAhead == 0 && c.ReloadInterval > 0 {
		c.PublishAhead = 2 * c.ReloadInterval
	}
	if c.PublishAhead < 0 {
		c.PublishAhead = 0
	}
	return c
}

// MaxLeeway is the most clock skew Verify allows (Config.Leeway).
const MaxLeeway = 5 * time.Minute

// CheckAlg says whether alg is one Tokens signs with (EdDSA, ES256, RS256 or HS256). It is the
// one list: config checks PORTCULLIS_JWT_ALG with it (passed in by cmd/portcullis/app), so its
// error is written to follow the variable's name.
func CheckAlg(alg string) error {
	switch alg {
	case EdDSA, ES256, RS256, HS256:
		return nil
	}
	return fmt.Errorf("unknown algorithm %q: use %s, %s, %s or %s", alg, EdDSA, ES256, RS256, HS256)
}

// CheckLeeway says whether d is a clock skew Verify allows (0 to MaxLeeway). config checks
// PORTCULLIS_LEEWAY with it, as with CheckAlg.
func CheckLeeway(d time.Duration) error {
	if d < 0 || d > MaxLeeway {
		return fmt.Errorf("must be between 0s and %s", strings.TrimSuffix(MaxLeeway.String(), "0s"))
	}
	return nil
}

// CheckSecret says whether secret fits alg: HS256 signs with a secret of at least
// MinSecretLength bytes, every other algorithm with a key pair and no secret. config checks
// PORTCULLIS_JWT_SECRET (once base64-decoded) with it, as with CheckAlg.
func CheckSecret(alg string, secret []byte) error {
	switch {
	case alg != HS256 && len(secret) > 0:
		return fmt.Errorf("a secret is only for %s", HS256)
	case alg == HS256 && len(secret) < MinSecretLength:
		return fmt.Errorf("%s needs a secret of at least %d bytes (%d bits)", HS256, MinSecretLength, 8*MinSecretLength)
	}
	return nil
}

// CheckKeyFile says whether a key file may be given with alg: HS256 signs with its secret, not
// a key file. config checks PORTCULLIS_JWT_KEY_FILE with it, as with CheckAlg.
func CheckKeyFile(alg, keyFile string) error {
	if alg == HS256 && keyFile != "" {
		return fmt.Errorf("a key file is not used with %s", HS256)
	}
	return nil
}

func (c Config) validate(storeMode bool) error {
	var errs []error
	if err := CheckAlg(c.Alg); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, CheckSecret(c.Alg, c.Secret), CheckKeyFile(c.Alg, c.KeyFile))
	}
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer must be set"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience must be set"))
	}
	if c.AccessTTL < time.Second {
		errs = append(errs, errors.New("access TTL must be at least a second"))
	}
	if err := CheckLeeway(c.Leeway); err != nil {
		errs = append(errs, fmt.Errorf("leeway %w", err))
	}
	if storeMode && len(c.KeyEncryptionKey) != KeyEncryptionKeySize {
		errs = append(errs, fmt.Errorf("key-encryption key must be %d bytes", KeyEncryptionKeySize))
	}
	return errors.Join(errs...)
}
