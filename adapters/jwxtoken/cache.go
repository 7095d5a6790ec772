package jwxtoken

import (
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/portcullis-auth/portcullis/domain"
)

// verified is what the cache keeps of a token that passed every check of Verify.
type verified struct {
	claims domain.AccessClaims
	kid    string
	exp    int64 // Unix seconds: the entry is never used at or after the token's exp
}

// verifiedCache remembers tokens that verified, keyed on their exact bytes, so that the same
// token presented again skips the signature check and the claims decoding. It is exact:
//   - the key is the whole token, so any other byte sequence (a flipped bit, another
//     signature, another header) misses and is verified in full;
//   - an entry is used only before the token's exp (not exp + leeway: the leeway is for clock
//     skew between instances, and a full Verify still applies it), and otter drops it then;
//   - an entry is used only while its signing key is in the current key set and inside its
//     verification window, checked on every hit; a key set that loses a key empties the cache.
//
// Issuer, audience and the access TTL are fixed for the life of Tokens, so a token that
// passed them once passes them again.
type verifiedCache struct {
	c *otter.Cache[string, verified]
}

func newVerifiedCache(size int) (*verifiedCache, error) {
	c, err := otter.New(&otter.Options[string, verified]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryCreatingFunc(func(e otter.Entry[string, verified]) time.Duration {
			return time.Until(time.Unix(e.Value.exp, 0))
		}),
	})
	if err != nil {
		return nil, err
	}
	return &verifiedCache{c: c}, nil
}

// get returns the claims of token if it verified before, its exp is still ahead of now and
// its key still verifies in ring.
func (vc *verifiedCache) get(token string, ring *keyring, now time.Time) (domain.AccessClaims, bool) {
	v, ok := vc.c.GetIfPresent(token)
	if !ok || now.Unix() >= v.exp {
		return domain.AccessClaims{}, false
	}
	key := ring.byKID[v.kid]
	if key == nil || (!key.until.IsZero() && !now.Before(key.until)) {
		return domain.AccessClaims{}, false
	}
	return v.claims, true
}

// put remembers a token that Verify has just accepted with key. The token is copied: the
// caller's string may live in a buffer the HTTP server reuses.
func (vc *verifiedCache) put(token string, key *verifyKey, c domain.AccessClaims, now time.Time) {
	exp := c.ExpiresAt.Unix()
	if now.Unix() >= exp {
		return // inside the leeway after exp: accepted, but not worth remembering
	}
	vc.c.Set(strings.Clone(token), verified{claims: c, kid: key.kid, exp: exp})
}

// keysChanged empties the cache when a key of old is missing from new: what it verified must
// not be answered from memory any more (get checks it too; this frees the entries).
func (vc *verifiedCache) keysChanged(old, new *keyring) {
	if old == nil {
		return
	}
	for kid := range old.byKID {
		if new.byKID[kid] == nil {
			vc.c.InvalidateAll()
			return
		}
	}
}
