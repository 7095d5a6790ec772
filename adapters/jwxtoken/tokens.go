package jwxtoken

import (
	"context"
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

// Tokens issues and verifies access tokens and serves the JWKS. It is safe for concurrent use;
// Issue, Verify and JWKS read an immutable key snapshot that Reload and RotateSigningKey replace.
type Tokens struct {
	cfg     Config
	store   ports.KeyStore // nil when the keys are static
	clock   ports.Clock
	log     *slog.Logger
	ring    atomic.Pointer[keyring]
	cache   *verifiedCache // nil when Config.CacheSize <= 0
	mu      sync.Mutex     // serialises Reload and RotateSigningKey
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

// maxJWKSAge is the longest JWKSMaxAge.
const maxJWKSAge = 5 * time.Minute

// JWKSMaxAge is how long a copy of JWKS may be used before it is fetched again (the HTTP
// adapter sends it as the Cache-Control max-age). A key that RotateSigningKey adds is in every
// instance's JWKS at most ReloadInterval after it was added, and signs PublishAhead after it was
// added; a copy fetched from an instance just before that instance reloaded must be stale by
// then, or a service that verifies with it refuses every new token. So it is PublishAhead -
// ReloadInterval (30 s with the defaults), at most five minutes; keys that never rotate (a
// secret or a key file) are kept five minutes.
func (t *Tokens) JWKSMaxAge() time.Duration {
	if t.store == nil {
		return maxJWKSAge
	}
	return min(maxJWKSAge, max(0, t.cfg.PublishAhead-max(0, t.cfg.ReloadInterval)))
}
