package jwxtoken

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis-auth/portcullis/domain"
)

// memKeys is an in-memory ports.KeyStore that counts its calls.
type memKeys struct {
	mu    sync.Mutex
	keys  []domain.SigningKey
	calls map[string]int
}

func newMemKeys() *memKeys { return &memKeys{calls: map[string]int{}} }

func (m *memKeys) count(op string) {
	m.mu.Lock()
	m.calls[op]++
	m.mu.Unlock()
}

func (m *memKeys) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		n += c
	}
	return n
}

func (m *memKeys) Keys(context.Context) ([]domain.SigningKey, error) {
	m.count("keys")
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.keys)
	slices.SortStableFunc(out, func(a, b domain.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (m *memKeys) Add(_ context.Context, k domain.SigningKey) error {
	m.count("add")
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.keys {
		if e.ID == k.ID {
			return domain.ErrConflict
		}
	}
	k.Private = slices.Clone(k.Private)
	m.keys = append(m.keys, k)
	return nil
}

func (m *memKeys) Retire(_ context.Context, id string, at time.Time) error {
	m.count("retire")
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.keys {
		if m.keys[i].ID == id {
			m.keys[i].RetiredAt = at
			return nil
		}
	}
	return domain.ErrNotFound
}

func (m *memKeys) Delete(_ context.Context, id string) error {
	m.count("delete")
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = slices.DeleteFunc(m.keys, func(k domain.SigningKey) bool { return k.ID == id })
	return nil
}

func (m *memKeys) ids() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, k := range m.keys {
		ids = append(ids, k.ID)
	}
	return ids
}

// fakeClock is a settable ports.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	testIssuer   = "https://auth.example.test"
	testAudience = "portcullis"
)

func testKEK() []byte {
	k := make([]byte, KeyEncryptionKeySize)
	for i := range k {
		k[i] = byte(i + 1)
	}
	return k
}

func testConfig(alg string) Config {
	c := Config{
		Alg: alg, Issuer: testIssuer, Audience: testAudience,
		AccessTTL: 15 * time.Minute, Leeway: 30 * time.Second,
		KeyEncryptionKey: testKEK(), ReloadInterval: -1, CacheSize: 8192,
	}
	if alg == HS256 {
		c.Secret = []byte(strings.Repeat("s", 40))
	}
	return c
}

// fixture is a Tokens with its store and clock.
type fixture struct {
	tok   *Tokens
	store *memKeys
	clock *fakeClock
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	f := &fixture{store: newMemKeys(), clock: newClock()}
	tok, err := New(cfg, f.store, f.clock, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.tok = tok
	return f
}

func (f *fixture) claims() domain.AccessClaims {
	now := f.clock.Now()
	return domain.AccessClaims{
		Subject: "user-1", SessionID: "sess-1", Roles: []domain.Role{domain.RoleUser}, ID: "jti-1",
		IssuedAt: now, ExpiresAt: now.Add(f.tok.cfg.AccessTTL),
	}
}

func (f *fixture) issue(t testing.TB) string {
	t.Helper()
	tok, err := f.tok.Issue(context.Background(), f.claims())
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok
}

// active returns the key signing now.
func (f *fixture) active(t testing.TB) *signKey {
	t.Helper()
	k, err := f.tok.ring.Load().signerAt(f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// payload is a claim set as JSON-ready values; tests change single members.
func (f *fixture) payload() map[string]any {
	now := f.clock.Now().Unix()
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "user-1", "sid": "sess-1",
		"roles": []string{"user"}, "iat": now, "nbf": now, "exp": now + 900, "jti": "jti-1",
	}
}

// ourHeader is a header naming the active key, as a map tests can change.
func (f *fixture) ourHeader(t testing.TB) map[string]any {
	k := f.active(t)
	return map[string]any{"alg": string(k.alg), "kid": k.kid, "typ": "at+jwt"}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var enc = base64.RawURLEncoding

// craft builds header.payload and signs it with alg and key (nil key: empty signature).
// header and payload may be maps or raw JSON strings.
func craft(t testing.TB, header, payload any, alg jwa.SignatureAlgorithm, key any) string {
	t.Helper()
	input := enc.EncodeToString(mustJSON(t, header)) + "." + enc.EncodeToString(mustJSON(t, payload))
	if key == nil {
		return input + "."
	}
	signer, err := jws.NewSigner(alg)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// signOurs signs header and payload with the active private key.
func (f *fixture) signOurs(t testing.TB, header, payload any) string {
	t.Helper()
	k := f.active(t)
	return craft(t, header, payload, k.alg, k.priv)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// jwksKeys returns the JWKS document of tok and its keys.
func jwksKeys(t testing.TB, tok *Tokens) ([]byte, []map[string]any) {
	t.Helper()
	b, err := tok.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	return b, set.Keys
}
