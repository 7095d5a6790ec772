package jwxtoken

import (
	"context"
	"strings"
	"testing"
	"time"
)

// cached reports whether Verify would answer token from the cache at the fixture's time.
func (f *fixture) cached(token string) bool {
	_, ok := f.tok.cache.get(token, f.tok.ring.Load(), f.clock.Now())
	return ok
}

func TestVerifyCache_ExactBytes(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	tok := f.issue(t)
	if f.cached(tok) {
		t.Fatal("a token never verified is in the cache")
	}
	want := accept(t, f, tok)
	if !f.cached(tok) {
		t.Fatal("a verified token was not cached")
	}
	if got := accept(t, f, tok); got.SessionID != want.SessionID || got.Subject != want.Subject || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("cached claims %+v, want %+v", got, want)
	}
	// Any other bytes miss the cache and get the full check: a flipped signature character, a
	// truncated signature, the payload of another token under this signature.
	dot := strings.LastIndexByte(tok, '.')
	flip := []byte(tok)
	flip[dot+5] ^= 0x01 // still base64url
	reject(t, f, string(flip), nil)
	reject(t, f, tok[:len(tok)-2], nil)
	other := f.claims()
	other.Roles = append(other.Roles, "admin")
	tok2, err := f.tok.Issue(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	d1 := strings.IndexByte(tok2, '.')
	d2 := strings.LastIndexByte(tok2, '.')
	reject(t, f, tok[:d1]+tok2[d1:d2]+tok[dot:], errSignature)
}

func TestVerifyCache_NeverPastExp(t *testing.T) {
	cfg := testConfig(EdDSA)
	f := newFixture(t, cfg)
	tok := f.issue(t)
	accept(t, f, tok)
	f.clock.Advance(cfg.AccessTTL - time.Second)
	if !f.cached(tok) {
		t.Fatal("the entry was gone a second before exp")
	}
	f.clock.Advance(time.Second) // now == exp: the cache no longer answers, the leeway is Verify's
	if f.cached(tok) {
		t.Fatal("the cache answers at the token's exp")
	}
	accept(t, f, tok) // within the leeway, by the full check
	if f.cached(tok) {
		t.Fatal("a token accepted inside the leeway after exp was cached")
	}
	f.clock.Advance(cfg.Leeway)
	reject(t, f, tok, errExpired)
}

func TestVerifyCache_EmptiedForRemovedKey(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.PublishAhead = -1
	f := newFixture(t, cfg)
	ctx := context.Background()
	oldKID := f.active(t).kid
	tok := f.issue(t)
	accept(t, f, tok)
	// The operator removes the key from the store (say, it leaked): once this instance reloads,
	// its tokens are refused at once, although they have not expired.
	if _, err := f.tok.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	accept(t, f, tok) // retired but inside its verification window
	if err := f.store.Delete(ctx, oldKID); err != nil {
		t.Fatal(err)
	}
	if err := f.tok.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.tok.cache.c.EstimatedSize(); n != 0 {
		t.Fatalf("%d entries left in the cache after their key was removed", n)
	}
	reject(t, f, tok, errKey)
}

func TestVerifyCache_Off(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.CacheSize = -1
	f := newFixture(t, cfg)
	if f.tok.cache != nil {
		t.Fatal("CacheSize -1 left a cache")
	}
	accept(t, f, f.issue(t))
}
