package jwxtoken

// The keys kept in a ports.KeyStore: reloading them, adding and rotating signing keys, polling.

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis-auth/portcullis/domain"
)

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
