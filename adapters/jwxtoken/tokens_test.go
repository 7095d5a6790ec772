package jwxtoken

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

func decodeSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustDecode(t, seg), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIssue_Format(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	c := f.claims()
	c.ID = ""
	c.Roles = nil
	tok, err := f.tok.Issue(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", tok)
	}
	h := decodeSegment(t, parts[0])
	if len(h) != 3 || h["alg"] != "EdDSA" || h["typ"] != "at+jwt" || h["kid"] != f.active(t).kid {
		t.Fatalf("header %v", h)
	}
	p := decodeSegment(t, parts[1])
	now := float64(f.clock.Now().Unix())
	if p["iss"] != testIssuer || p["aud"] != testAudience || p["sub"] != "user-1" || p["sid"] != "sess-1" ||
		p["iat"] != now || p["nbf"] != now || p["exp"] != now+900 {
		t.Fatalf("claims %v", p)
	}
	if roles, ok := p["roles"].([]any); !ok || len(roles) != 0 {
		t.Fatalf("roles %#v, want an empty array", p["roles"])
	}
	if jti, _ := p["jti"].(string); len(jti) < 16 {
		t.Fatalf("generated jti %q", jti)
	}
	if got := accept(t, f, tok); got.ID != p["jti"] {
		t.Fatalf("jti %q, want %q", got.ID, p["jti"])
	}
}

func TestIssue_RefusesBadClaims(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	for name, mod := range map[string]func(*domain.AccessClaims){
		"no subject":       func(c *domain.AccessClaims) { c.Subject = "" },
		"no session":       func(c *domain.AccessClaims) { c.SessionID = "" },
		"expires at issue": func(c *domain.AccessClaims) { c.ExpiresAt = c.IssuedAt },
		"too long":         func(c *domain.AccessClaims) { c.ExpiresAt = c.IssuedAt.Add(time.Hour) },
	} {
		c := f.claims()
		mod(&c)
		if tok, err := f.tok.Issue(context.Background(), c); err == nil {
			t.Errorf("%s: issued %q", name, tok)
		}
	}
}

func TestNew_GeneratesSealedKey(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, testConfig(alg))
			keys, _ := f.store.Keys(context.Background())
			if len(keys) != 1 {
				t.Fatalf("store holds %d keys, want 1", len(keys))
			}
			k := keys[0]
			if k.Algorithm != alg || k.ID != f.active(t).kid || !k.RetiredAt.IsZero() || !k.CreatedAt.Equal(epoch) {
				t.Fatalf("stored key %+v", k)
			}
			if _, err := x509.ParsePKCS8PrivateKey(k.Private); err == nil {
				t.Fatal("the stored private key is in clear")
			}
			der, err := Unseal(testKEK(), k.ID, k.Private)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
				t.Fatalf("sealed key is not PKCS#8: %v", err)
			}
			accept(t, f, f.issue(t))

			// A second instance on the same store uses that key and adds none.
			other, err := New(testConfig(alg), f.store, f.clock, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.store.ids()); n != 1 {
				t.Fatalf("second instance added a key: %d keys", n)
			}
			if _, err := other.Verify(context.Background(), f.issue(t)); err != nil {
				t.Fatalf("second instance rejects the first one's token: %v", err)
			}
			// A wrong key-encryption key cannot open it.
			bad := testConfig(alg)
			bad.KeyEncryptionKey = bytes.Repeat([]byte{9}, 32)
			if _, err := New(bad, f.store, f.clock, nil); err == nil {
				t.Fatal("New opened the keys with a wrong key-encryption key")
			}
		})
	}
}

func TestNew_ConcurrentStart(t *testing.T) {
	store, clock := newMemKeys(), newClock()
	const n = 2
	toks := make([]*Tokens, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = New(testConfig(EdDSA), store, clock, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Both may have generated a key; after a reload each publishes all and signs with the same.
	for _, tk := range toks {
		if err := tk.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ids := store.ids()
	var signers []string
	for _, tk := range toks {
		jwks, _ := tk.JWKS()
		for _, id := range ids {
			if !strings.Contains(string(jwks), id) {
				t.Fatalf("key %s not published by every instance", id)
			}
		}
		k, _ := tk.ring.Load().signerAt(clock.Now())
		signers = append(signers, k.kid)
	}
	if signers[0] != signers[1] {
		t.Fatalf("instances sign with different keys %v", signers)
	}
	for i, a := range toks {
		f := &fixture{tok: a, store: store, clock: clock}
		tok := f.issue(t)
		for j, b := range toks {
			if _, err := b.Verify(context.Background(), tok); err != nil {
				t.Fatalf("instance %d rejects instance %d's token: %v", j, i, err)
			}
		}
	}
}

func TestRotate_PublishAhead(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.PublishAhead = time.Minute
	f := newFixture(t, cfg)
	ctx := context.Background()
	// A second instance that has not reloaded yet when the rotation happens.
	peer, err := New(cfg, f.store, f.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := f.active(t).kid
	oldTok := f.issue(t)

	newKID, err := f.tok.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := f.tok.JWKS()
	if !strings.Contains(string(jwks), newKID) || !strings.Contains(string(jwks), oldKID) {
		t.Fatalf("JWKS after rotation lacks a key: %s", jwks)
	}
	if got := f.active(t).kid; got != oldKID {
		t.Fatalf("new key signs before PublishAhead: %s", got)
	}
	if err := peer.Reload(ctx); err != nil { // the peer's poller runs within PublishAhead
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if got := f.active(t).kid; got != newKID {
		t.Fatalf("active kid %s after PublishAhead, want %s", got, newKID)
	}
	newTok := f.issue(t)
	for name, tk := range map[string]*Tokens{"rotating": f.tok, "peer": peer} {
		for which, tok := range map[string]string{"old": oldTok, "new": newTok} {
			if _, err := tk.Verify(ctx, tok); err != nil {
				t.Fatalf("%s instance rejects the %s token: %v", name, which, err)
			}
		}
	}
	// Past RetiredAt + TTL + leeway the old key is unpublished and deleted from the store.
	f.clock.Advance(cfg.AccessTTL + cfg.Leeway)
	if err := f.tok.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	jwks, _ = f.tok.JWKS()
	if strings.Contains(string(jwks), oldKID) || !strings.Contains(string(jwks), newKID) {
		t.Fatalf("JWKS after the window: %s", jwks)
	}
	if ids := f.store.ids(); !slices.Equal(ids, []string{newKID}) {
		t.Fatalf("store keys %v, want only %s", ids, newKID)
	}
}

// SECURITY C29: a signing-key rotation causes no 401 at a service that verifies offline with a
// copy of the JWKS kept as long as its Cache-Control allows (JWKSMaxAge). The worst case: the
// copy is fetched from an instance just before that instance reloads the keys and so learns
// of the new key; the copy must go stale before the new key signs.
func TestJWKS_CachedCopyHasEverySigningKey(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.ReloadInterval = 30 * time.Second // the defaults: PublishAhead is twice that
	f := newFixture(t, cfg)
	ctx := context.Background()
	peer, err := New(cfg, f.store, f.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	newKID, err := f.tok.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(cfg.ReloadInterval - time.Second)
	fetched := f.clock.Now()
	_, keys := jwksKeys(t, peer) // the peer has not reloaded yet: no new key in this copy
	inCopy := map[string]bool{}
	for _, k := range keys {
		inCopy[k["kid"].(string)] = true
	}
	if inCopy[newKID] {
		t.Fatal("the peer published the new key before reloading")
	}
	maxAge := peer.JWKSMaxAge()
	if maxAge <= 0 {
		t.Fatalf("JWKSMaxAge = %s: the key set could never be cached", maxAge)
	}
	f.clock.Advance(time.Second)
	if err := peer.Reload(ctx); err != nil { // its poller, one interval after the last
		t.Fatal(err)
	}
	// Every token either instance issues while the copy is fresh verifies with the copy's keys.
	for ; f.clock.Now().Before(fetched.Add(maxAge)); f.clock.Advance(time.Second) {
		for name, tk := range map[string]*Tokens{"rotating": f.tok, "peer": peer} {
			tok, err := tk.Issue(ctx, f.claims())
			if err != nil {
				t.Fatal(err)
			}
			var hdr struct {
				Kid string `json:"kid"`
			}
			raw, err := b64.DecodeString(strings.Split(tok, ".")[0])
			if err != nil || json.Unmarshal(raw, &hdr) != nil {
				t.Fatalf("token header %q: %v", raw, err)
			}
			if !inCopy[hdr.Kid] {
				t.Fatalf("%s after the rotation the %s instance signs with %s, which a copy of the JWKS fetched %s "+
					"after it and still fresh (max-age %s) does not hold", f.clock.Now().Sub(fetched.Add(-cfg.ReloadInterval+time.Second)),
					name, hdr.Kid, cfg.ReloadInterval-time.Second, maxAge)
			}
		}
	}
	// With keys that never rotate (a secret or a key file), five minutes.
	s, err := New(testConfig(HS256), nil, newClock(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.JWKSMaxAge(); got != 5*time.Minute {
		t.Fatalf("static keys: JWKSMaxAge = %s, want 5m", got)
	}
}

func TestJWKS_PublicMembersOnly(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, testConfig(alg))
			b, keys := jwksKeys(t, f.tok)
			if len(keys) != 1 {
				t.Fatalf("JWKS %s", b)
			}
			k := keys[0]
			if k["kid"] != f.active(t).kid || k["alg"] != alg || k["use"] != "sig" {
				t.Fatalf("key %v", k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[private]; ok {
					t.Fatalf("JWKS publishes private member %q: %s", private, b)
				}
			}
		})
	}
	f := newFixture(t, testConfig(HS256))
	if b, _ := f.tok.JWKS(); string(b) != `{"keys":[]}` {
		t.Fatalf("HS256 JWKS %s", b)
	}
	if _, err := f.tok.RotateSigningKey(context.Background()); !errors.Is(err, ErrStaticKeys) {
		t.Fatalf("Rotate with a secret: %v", err)
	}
	if f.store.Calls() != 0 {
		t.Fatal("HS256 used the key store")
	}
}

func TestNew_KeyFile(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(nil)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
	rs, _ := rsa.GenerateKey(nil, 2048)
	pkcs8 := func(k any) []byte { b, _ := x509.MarshalPKCS8PrivateKey(k); return b }
	sec1, _ := x509.MarshalECPrivateKey(ec)
	dir := t.TempDir()
	cases := []struct {
		name, alg, typ string
		der            []byte
	}{
		{"Ed25519 PKCS#8", EdDSA, "PRIVATE KEY", pkcs8(ed)},
		{"P-256 PKCS#8", ES256, "PRIVATE KEY", pkcs8(ec)},
		{"P-256 SEC1", ES256, "EC PRIVATE KEY", sec1},
		{"RSA PKCS#1", RS256, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rs)},
		{"RSA PKCS#8", RS256, "PRIVATE KEY", pkcs8(rs)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".pem")
			data := pem.EncodeToMemory(&pem.Block{Type: tc.typ, Bytes: tc.der})
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(tc.alg)
			cfg.KeyFile, cfg.KeyEncryptionKey = path, nil
			f := newFixture(t, cfg)
			accept(t, f, f.issue(t))
			if f.store.Calls() != 0 {
				t.Fatal("a key file deployment used the key store")
			}
			if _, err := f.tok.RotateSigningKey(context.Background()); !errors.Is(err, ErrStaticKeys) {
				t.Fatalf("Rotate: %v", err)
			}
			// Two instances reading one file agree on the kid.
			other := newFixture(t, cfg)
			if other.active(t).kid != f.active(t).kid {
				t.Fatal("kid differs between instances")
			}
			// The same file under another algorithm is refused.
			wrong := cfg
			wrong.Alg = cases[(i+2)%len(cases)].alg
			if wrong.Alg != tc.alg {
				if _, err := New(wrong, nil, newClock(), nil); err == nil {
					t.Fatalf("a %s key accepted for %s", tc.alg, wrong.Alg)
				}
			}
		})
	}
}

func TestNew_RejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"unknown alg":      func(c *Config) { c.Alg = "none" },
		"alg case":         func(c *Config) { c.Alg = "eddsa" },
		"no issuer":        func(c *Config) { c.Issuer = "" },
		"no audience":      func(c *Config) { c.Audience = "" },
		"short KEK":        func(c *Config) { c.KeyEncryptionKey = c.KeyEncryptionKey[:16] },
		"no KEK":           func(c *Config) { c.KeyEncryptionKey = nil },
		"HS256 no secret":  func(c *Config) { c.Alg = HS256 },
		"HS256 short":      func(c *Config) { c.Alg, c.Secret = HS256, make([]byte, 31) },
		"secret for EdDSA": func(c *Config) { c.Secret = make([]byte, 32) },
		"negative leeway":  func(c *Config) { c.Leeway = -time.Second },
		"missing key file": func(c *Config) { c.KeyFile = "/nonexistent/key.pem" },
	} {
		cfg := testConfig(EdDSA)
		mod(&cfg)
		if _, err := New(cfg, newMemKeys(), newClock(), nil); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

func TestSeal(t *testing.T) {
	kek := testKEK()
	plain := []byte("pkcs8 bytes")
	a, err := Seal(kek, "kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Seal(kek, "kid-1", plain)
	if bytes.Equal(a, b) || bytes.Contains(a, plain) {
		t.Fatal("sealing is deterministic or leaks the plaintext")
	}
	if got, err := Unseal(kek, "kid-1", a); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	flipped := bytes.Clone(a)
	flipped[len(flipped)-1] ^= 1
	for name, try := range map[string]func() ([]byte, error){
		"other kid":   func() ([]byte, error) { return Unseal(kek, "kid-2", a) },
		"other kek":   func() ([]byte, error) { return Unseal(bytes.Repeat([]byte{7}, 32), "kid-1", a) },
		"tampered":    func() ([]byte, error) { return Unseal(kek, "kid-1", flipped) },
		"truncated":   func() ([]byte, error) { return Unseal(kek, "kid-1", a[:20]) },
		"empty":       func() ([]byte, error) { return Unseal(kek, "kid-1", nil) },
		"bad version": func() ([]byte, error) { c := bytes.Clone(a); c[0] = 2; return Unseal(kek, "kid-1", c) },
		"short kek":   func() ([]byte, error) { return Unseal(kek[:16], "kid-1", a) },
	} {
		if got, err := try(); err == nil {
			t.Errorf("%s: unsealed %q", name, got)
		}
	}
}

func TestModule_Wires(t *testing.T) {
	var (
		issuer   ports.TokenIssuer
		verifier ports.TokenVerifier
		tok      *Tokens
	)
	cfg := testConfig(EdDSA)
	cfg.ReloadInterval = time.Hour
	app := fx.New(fx.NopLogger,
		fx.Supply(cfg),
		fx.Provide(func() ports.KeyStore { return newMemKeys() }, func() ports.Clock { return newClock() }),
		fx.Supply(nopLogger()),
		Module,
		fx.Populate(&issuer, &verifier, &tok),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if issuer.(*Tokens) != tok || verifier.(*Tokens) != tok {
		t.Fatal("ports not bound to the one *Tokens")
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStartPolling_PicksUpRotation(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.PublishAhead = -1
	f := newFixture(t, cfg)
	other, err := New(cfg, f.store, f.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := f.tok.StartPolling(5 * time.Millisecond)
	defer stop()
	kid, err := other.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.active(t).kid != kid {
		if time.Now().After(deadline) {
			t.Fatal("the poller did not pick up the rotation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNew_ClockBehindKeyCreator(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	behind := &fakeClock{now: epoch.Add(-5 * time.Second)}
	peer, err := New(testConfig(EdDSA), f.store, behind, nil)
	if err != nil {
		t.Fatalf("an instance whose clock is 5 s behind cannot start: %v", err)
	}
	pf := &fixture{tok: peer, store: f.store, clock: behind}
	if pf.active(t).kid != f.active(t).kid {
		t.Fatal("the instance behind signs with another key")
	}
	if n := len(f.store.ids()); n != 1 {
		t.Fatalf("the instance behind added a key: %d keys", n)
	}
}

// TestCheckAlgAndLeeway: the one list of algorithms and the one leeway range, which config
// checks PORTCULLIS_JWT_ALG and PORTCULLIS_LEEWAY with and New refuses by.
func TestCheckAlgAndLeeway(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, RS256, HS256} {
		if err := CheckAlg(alg); err != nil {
			t.Errorf("CheckAlg(%q): %v", alg, err)
		}
	}
	for _, alg := range []string{"none", "eddsa", "RS512", ""} {
		if CheckAlg(alg) == nil {
			t.Errorf("CheckAlg(%q) took it", alg)
		}
	}
	for d, ok := range map[time.Duration]bool{0: true, 30 * time.Second: true, MaxLeeway: true,
		-time.Nanosecond: false, MaxLeeway + time.Nanosecond: false} {
		if err := CheckLeeway(d); (err == nil) != ok {
			t.Errorf("CheckLeeway(%s) = %v, want ok %v", d, err, ok)
		}
		cfg := testConfig(EdDSA)
		cfg.Leeway = d
		if _, err := New(cfg, newMemKeys(), newClock(), nil); (err == nil) != ok {
			t.Errorf("New with leeway %s: %v; CheckLeeway ok %v", d, err, ok)
		}
	}
}
