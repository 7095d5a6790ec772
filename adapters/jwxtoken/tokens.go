package jwxtoken

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// storeTimeout bounds each key-store call that New and the poller make.
const storeTimeout = 30 * time.Second

// ErrStaticKeys is returned by RotateSigningKey when the keys come from Config.KeyFile or
// Config.Secret; it is domain.ErrStaticKeys.
var ErrStaticKeys = domain.ErrStaticKeys

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

func (c Config) validate(storeMode bool) error {
	var errs []error
	switch c.Alg {
	case EdDSA, ES256, RS256:
		if len(c.Secret) > 0 {
			errs = append(errs, fmt.Errorf("a secret is only for %s", HS256))
		}
	case HS256:
		if len(c.Secret) < MinSecretLength {
			errs = append(errs, fmt.Errorf("%s needs a secret of at least %d bytes", HS256, MinSecretLength))
		}
		if c.KeyFile != "" {
			errs = append(errs, fmt.Errorf("a key file is not used with %s", HS256))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown algorithm %q: use EdDSA, ES256, RS256 or HS256", c.Alg))
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
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		errs = append(errs, errors.New("leeway must be between 0 and 5m"))
	}
	if storeMode && len(c.KeyEncryptionKey) != KeyEncryptionKeySize {
		errs = append(errs, fmt.Errorf("key-encryption key must be %d bytes", KeyEncryptionKeySize))
	}
	return errors.Join(errs...)
}

// Tokens issues and verifies access tokens and serves the JWKS. It is safe for concurrent use;
// Issue, Verify and JWKS read an immutable key snapshot that Reload and Rotate replace.
type Tokens struct {
	cfg     Config
	store   ports.KeyStore // nil when the keys are static
	clock   ports.Clock
	log     *slog.Logger
	ring    atomic.Pointer[keyring]
	cache   *verifiedCache // nil when Config.CacheSize < 0
	mu      sync.Mutex     // serialises Reload and Rotate
	ttlSecs int64
	leeway  int64 // seconds, rounded up
}

var (
	_ ports.TokenIssuer   = (*Tokens)(nil)
	_ ports.TokenVerifier = (*Tokens)(nil)
)

// New returns Tokens for cfg. With cfg.Secret or cfg.KeyFile the keys are static and keys is
// not used (it may be nil). Otherwise it loads the keys of cfg.Alg from keys and, when none
// can sign, generates one, seals it and adds it.
func New(cfg Config, keys ports.KeyStore, clock ports.Clock, log *slog.Logger) (*Tokens, error) {
	t, err := build(cfg, keys, clock, log)
	if err != nil || t.store == nil {
		return t, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := t.Reload(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// build makes Tokens without reading the key store: static keys are ready, store-kept ones
// wait for the first Reload.
func build(cfg Config, keys ports.KeyStore, clock ports.Clock, log *slog.Logger) (*Tokens, error) {
	cfg = cfg.withDefaults()
	storeMode := cfg.KeyFile == "" && len(cfg.Secret) == 0
	if err := cfg.validate(storeMode); err != nil {
		return nil, fmt.Errorf("token config: %w", err)
	}
	if clock == nil {
		return nil, errors.New("token config: a clock is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{
		cfg: cfg, clock: clock, log: log,
		ttlSecs: int64(cfg.AccessTTL / time.Second),
		leeway:  int64((cfg.Leeway + time.Second - 1) / time.Second),
	}
	if cfg.CacheSize > 0 {
		c, err := newVerifiedCache(cfg.CacheSize)
		if err != nil {
			return nil, fmt.Errorf("token cache: %w", err)
		}
		t.cache = c
	}
	switch {
	case len(cfg.Secret) > 0:
		secret := append([]byte(nil), cfg.Secret...)
		return t, t.useStatic(material{kid: secretKID(secret), alg: jwa.HS256, priv: secret, pub: secret})
	case cfg.KeyFile != "":
		m, err := loadKeyFile(cfg.KeyFile, cfg.Alg)
		if err != nil {
			return nil, err
		}
		return t, t.useStatic(m)
	}
	if keys == nil {
		return nil, errors.New("token config: a key store is required without a key file or secret")
	}
	t.store = keys
	return t, nil
}

func (t *Tokens) useStatic(m material) error {
	ring, err := buildRing([]material{m}, 0, t.clock.Now())
	if err != nil {
		return fmt.Errorf("token keys: %w", err)
	}
	t.setRing(ring)
	return nil
}

func loadKeyFile(path, alg string) (material, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return material{}, fmt.Errorf("read key file: %w", err)
	}
	priv, err := parsePEMKey(data)
	if err != nil {
		return material{}, fmt.Errorf("parse key file %s: %w", path, err)
	}
	pub, err := publicFor(alg, priv)
	if err != nil {
		return material{}, fmt.Errorf("key file %s: %w", path, err)
	}
	kid, err := thumbprintKID(pub)
	if err != nil {
		return material{}, err
	}
	return material{kid: kid, alg: jwa.SignatureAlgorithm(alg), priv: priv, pub: pub}, nil
}

// setRing swaps in a new key set and forgets the verified tokens of any key it dropped.
func (t *Tokens) setRing(ring *keyring) {
	old := t.ring.Swap(ring)
	if t.cache != nil {
		t.cache.keysChanged(old, ring)
	}
}

// verifyWindow is how long after its retirement a key still verifies and is published.
func (t *Tokens) verifyWindow() time.Duration { return t.cfg.AccessTTL + t.cfg.Leeway }

// Reload re-reads the key store and swaps in the new key set: keys added or retired by another
// instance (or the operator CLI) take effect here. When no key of the configured algorithm can
// sign now or later, it generates one. Retired keys past their verification window are
// deleted from the store. With static keys it does nothing. On error the previous key set
// stays in use.
func (t *Tokens) Reload(ctx context.Context) error {
	if t.store == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reloadLocked(ctx)
}

func (t *Tokens) reloadLocked(ctx context.Context) error {
	now := t.clock.Now()
	stored, err := t.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if !canSign(stored, t.cfg.Alg, now) {
		// Two instances starting together may both get here; each adds its own key, and both
		// end up published, so either may sign. The newest signs once both have reloaded.
		kid, err := t.addKey(ctx, now)
		if err != nil {
			return err
		}
		t.log.InfoContext(ctx, "signing key generated", "kid", kid, "alg", t.cfg.Alg)
		if stored, err = t.store.Keys(ctx); err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
	}
	mats := make([]material, 0, len(stored))
	for _, k := range stored {
		if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt.Add(t.verifyWindow())) {
			// It can no longer verify anything; whichever instance sees it first removes it.
			if err := t.store.Delete(ctx, k.ID); err != nil && !errors.Is(err, domain.ErrNotFound) {
				t.log.WarnContext(ctx, "delete expired signing key", "kid", k.ID, "err", err)
			}
			continue
		}
		if k.Algorithm != t.cfg.Alg {
			continue // keys of another algorithm are not trusted
		}
		m, err := t.open(k)
		if err != nil {
			return err
		}
		mats = append(mats, m)
	}
	ring, err := buildRing(mats, t.verifyWindow(), now)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	if _, err := ring.signerAt(now); err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	t.setRing(ring)
	return nil
}

// canSign reports whether keys holds a key of alg that signs now or will (rotated in ahead).
func canSign(keys []domain.SigningKey, alg string, now time.Time) bool {
	for _, k := range keys {
		if k.Algorithm == alg && (k.RetiredAt.IsZero() || now.Before(k.RetiredAt)) {
			return true
		}
	}
	return false
}

// open unseals a stored key and checks it suits its algorithm.
func (t *Tokens) open(k domain.SigningKey) (material, error) {
	der, err := Unseal(t.cfg.KeyEncryptionKey, k.ID, k.Private)
	if err != nil {
		return material{}, fmt.Errorf("open signing key %s: %w", k.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return material{}, fmt.Errorf("parse signing key %s: %w", k.ID, err)
	}
	pub, err := publicFor(k.Algorithm, priv)
	if err != nil {
		return material{}, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	return material{
		kid: k.ID, alg: jwa.SignatureAlgorithm(k.Algorithm), priv: priv, pub: pub,
		createdAt: k.CreatedAt, retiredAt: k.RetiredAt,
	}, nil
}

// addKey generates a key of the configured algorithm that signs from activeFrom, seals it and
// adds it to the store.
func (t *Tokens) addKey(ctx context.Context, activeFrom time.Time) (string, error) {
	priv, err := generate(t.cfg.Alg)
	if err != nil {
		return "", fmt.Errorf("generate signing key: %w", err)
	}
	kid, err := thumbprintKID(priv.Public())
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode signing key: %w", err)
	}
	sealed, err := Seal(t.cfg.KeyEncryptionKey, kid, der)
	if err != nil {
		return "", fmt.Errorf("seal signing key: %w", err)
	}
	k := domain.SigningKey{ID: kid, Algorithm: t.cfg.Alg, Private: sealed, CreatedAt: activeFrom}
	if err := t.store.Add(ctx, k); err != nil {
		return "", fmt.Errorf("add signing key: %w", err)
	}
	return kid, nil
}

// RotateSigningKey adds a new signing key and retires every key that signs now (not to be
// confused with a session's refresh-token rotation, domain.Session.Rotate). The new key is published
// at once and signs from now + Config.PublishAhead; the old keys sign until that instant, then
// verify for AccessTTL + Leeway more. It returns the new key's kid. With static keys it returns
// ErrStaticKeys.
func (t *Tokens) RotateSigningKey(ctx context.Context) (string, error) {
	if t.store == nil {
		return "", ErrStaticKeys
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	at := now.Add(t.cfg.PublishAhead)
	stored, err := t.store.Keys(ctx)
	if err != nil {
		return "", fmt.Errorf("rotate: load signing keys: %w", err)
	}
	kid, err := t.addKey(ctx, at)
	if err != nil {
		return "", fmt.Errorf("rotate: %w", err)
	}
	for _, k := range stored {
		if k.RetiredAt.IsZero() || k.RetiredAt.After(at) {
			if err := t.store.Retire(ctx, k.ID, at); err != nil {
				return "", fmt.Errorf("rotate: retire %s: %w", k.ID, err)
			}
		}
	}
	t.log.InfoContext(ctx, "signing key rotated", "kid", kid, "alg", t.cfg.Alg, "signs_from", at)
	if err := t.reloadLocked(ctx); err != nil {
		return "", fmt.Errorf("rotate: %w", err)
	}
	return kid, nil
}

// StartPolling reloads the keys every interval until stop is called; stop waits for a reload
// in progress to end. A failed reload is logged and the previous keys stay in use. Module calls
// it through the fx lifecycle.
func (t *Tokens) StartPolling(interval time.Duration) (stop func()) {
	if t.store == nil || interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				rctx, rcancel := context.WithTimeout(ctx, min(interval, storeTimeout))
				if err := t.Reload(rctx); err != nil && ctx.Err() == nil {
					t.log.WarnContext(rctx, "reload signing keys", "err", err)
				}
				rcancel()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// JWKS returns the public key set as JSON ({"keys":[...]}): every key that still verifies,
// each with kid, alg and use "sig" and only public members. HS256 publishes no keys. The bytes
// are shared: do not modify them.
func (t *Tokens) JWKS() ([]byte, error) {
	return t.ring.Load().jwks, nil
}

// Module provides *Tokens and binds it to ports.TokenIssuer and ports.TokenVerifier, and polls
// the key store every Config.ReloadInterval while the app runs. The graph must provide Config,
// ports.KeyStore, ports.Clock and *slog.Logger.
//
// Under fx the key store is first read in an OnStart hook, not at construction, so that the
// store's own start (opening and migrating the database) has run before it.
var Module = fx.Module("jwxtoken",
	fx.Provide(
		build,
		fx.Annotate(func(t *Tokens) *Tokens { return t }, fx.As(new(ports.TokenIssuer))),
		fx.Annotate(func(t *Tokens) *Tokens { return t }, fx.As(new(ports.TokenVerifier))),
		fx.Annotate(func(t *Tokens) *Tokens { return t }, fx.As(new(ports.SigningKeyRotator))),
	),
	fx.Invoke(func(lc fx.Lifecycle, t *Tokens) {
		var stop func()
		lc.Append(fx.Hook{
			OnStart: func(ctx context.Context) error {
				if err := t.Reload(ctx); err != nil {
					return err
				}
				stop = t.StartPolling(t.cfg.ReloadInterval)
				return nil
			},
			OnStop: func(context.Context) error { stop(); return nil },
		})
	}),
)

// SigningKeyAge is how long the key that signs now has been active (since the start of its
// signing window), or 0 when no key signs. Metrics report it, so that an operator sees a
// rotation that is overdue.
func (t *Tokens) SigningKeyAge() time.Duration {
	ring := t.ring.Load()
	if ring == nil {
		return 0
	}
	now := t.clock.Now()
	k, err := ring.signerAt(now)
	if err != nil || k.from.After(now) {
		return 0
	}
	return now.Sub(k.from)
}
