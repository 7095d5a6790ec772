package jwxtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"

	"github.com/portcullis-auth/portcullis/domain"
)

// reject asserts that Verify refuses token with an error wrapping domain.ErrUnauthenticated
// and, when want is set, for that reason.
func reject(t *testing.T, f *fixture, token string, want error) {
	t.Helper()
	c, err := f.tok.Verify(context.Background(), token)
	if err == nil {
		t.Fatalf("Verify accepted %.120q with claims %+v", token, c)
	}
	if !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("Verify error %v does not wrap domain.ErrUnauthenticated", err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("Verify error %q, want %q", err, want)
	}
	if c.Subject != "" || c.SessionID != "" || c.Roles != nil {
		t.Fatalf("Verify returned claims %+v with an error", c)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := enc.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func accept(t *testing.T, f *fixture, token string) domain.AccessClaims {
	t.Helper()
	c, err := f.tok.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify(%.120q): %v", token, err)
	}
	return c
}

func TestVerify_RoundTrip(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256, HS256} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, testConfig(alg))
			want := f.claims()
			want.Roles = []domain.Role{domain.RoleUser, domain.RoleAdmin}
			tok, err := f.tok.Issue(context.Background(), want)
			if err != nil {
				t.Fatal(err)
			}
			got := accept(t, f, tok)
			if got.Subject != want.Subject || got.SessionID != want.SessionID || got.ID != want.ID ||
				!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
				len(got.Roles) != 2 || got.Roles[1] != domain.RoleAdmin {
				t.Fatalf("claims %+v, want %+v", got, want)
			}
			// The same claims in a header we did not write byte for byte take the parsing path.
			reordered := f.signOurs(t, `{"typ":"at+jwt","kid":"`+f.active(t).kid+`","alg":"`+alg+`"}`, f.payload())
			accept(t, f, reordered)
		})
	}
}

func TestVerify_C14_AlgNone(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	valid := f.issue(t)
	validSig := valid[strings.LastIndexByte(valid, '.')+1:]
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		h := f.ourHeader(t)
		h["alg"] = alg
		unsigned := craft(t, h, f.payload(), "", nil)
		t.Run(alg+"/no signature", func(t *testing.T) { reject(t, f, unsigned, errMalformed) })
		t.Run(alg+"/no signature part", func(t *testing.T) { reject(t, f, strings.TrimSuffix(unsigned, "."), errMalformed) })
		t.Run(alg+"/valid signature of another token", func(t *testing.T) { reject(t, f, unsigned+validSig, errHeader) })
		t.Run(alg+"/random signature", func(t *testing.T) {
			reject(t, f, unsigned+enc.EncodeToString(randomBytes(64)), errHeader)
		})
	}
}

func TestVerify_C15_SignatureTampering(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	valid := f.issue(t)
	accept(t, f, valid)
	parts := strings.Split(valid, ".")
	sig, _ := enc.DecodeString(parts[2])
	flip := func(i int) string {
		b := append([]byte(nil), sig...)
		b[i/8] ^= 1 << (i % 8)
		return parts[0] + "." + parts[1] + "." + enc.EncodeToString(b)
	}
	admin := f.payload()
	admin["roles"] = []string{"user", "admin"}
	later := f.payload()
	later["exp"] = later["exp"].(int64) + 60
	cases := map[string]string{
		"stripped":                  parts[0] + "." + parts[1] + ".",
		"two parts":                 parts[0] + "." + parts[1],
		"truncated by one":          valid[:len(valid)-1],
		"truncated by four":         valid[:len(valid)-4],
		"truncated to half":         parts[0] + "." + parts[1] + "." + parts[2][:43],
		"first bit flipped":         flip(0),
		"middle bit flipped":        flip(250),
		"last byte flipped":         flip(63 * 8),
		"roles changed":             parts[0] + "." + enc.EncodeToString(mustJSON(t, admin)) + "." + parts[2],
		"exp extended":              parts[0] + "." + enc.EncodeToString(mustJSON(t, later)) + "." + parts[2],
		"signature of other token":  parts[0] + "." + parts[1] + "." + strings.Split(f.signOurs(t, f.ourHeader(t), admin), ".")[2],
		"signature doubled":         valid + parts[2],
		"signature appended as dot": valid + "." + parts[2],
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { reject(t, f, tok, nil) })
	}
}

func TestVerify_C16_KeyConfusionHS256(t *testing.T) {
	for _, alg := range []string{EdDSA, ES256} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, testConfig(alg))
			jwks, keys := jwksKeys(t, f.tok)
			if len(keys) != 1 {
				t.Fatalf("JWKS %s", jwks)
			}
			kid, x := keys[0]["kid"].(string), keys[0]["x"].(string)
			der, err := x509.MarshalPKIXPublicKey(f.tok.ring.Load().byKID[kid].pub)
			if err != nil {
				t.Fatal(err)
			}
			secrets := map[string][]byte{
				"jwks document": jwks,
				"x member":      mustDecode(t, x),
				"x as text":     []byte(x),
				"public DER":    der,
				"public PEM":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
			}
			for name, secret := range secrets {
				for _, hmacAlg := range []string{"HS256", "hs256"} {
					h := map[string]any{"alg": hmacAlg, "kid": kid, "typ": "at+jwt"}
					tok := craft(t, h, f.payload(), jwa.HS256, secret)
					t.Run(name+"/"+hmacAlg, func(t *testing.T) { reject(t, f, tok, errHeader) })
				}
			}
		})
	}
}

func TestVerify_C17_OtherAlgorithmOrKey(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	kid := f.active(t).kid
	_, otherEd, _ := ed25519.GenerateKey(nil)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
	otherRSA, _ := rsa.GenerateKey(nil, 2048)

	// A valid ES256 key kept in the same store, with a kid of its own: not trusted by an EdDSA
	// deployment, because only keys of the configured algorithm are loaded.
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
	ecKID, _ := thumbprintKID(&ecKey.PublicKey)
	der, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	sealed, _ := Seal(testKEK(), ecKID, der)
	if err := f.store.Add(context.Background(), domain.SigningKey{ID: ecKID, Algorithm: ES256, Private: sealed, CreatedAt: epoch}); err != nil {
		t.Fatal(err)
	}
	if err := f.tok.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if jwks, _ := f.tok.JWKS(); strings.Contains(string(jwks), ecKID) {
		t.Fatalf("JWKS publishes a key of another algorithm: %s", jwks)
	}

	hdr := func(alg, kid string) map[string]any { return map[string]any{"alg": alg, "kid": kid, "typ": "at+jwt"} }
	cases := map[string]struct {
		tok  string
		want error
	}{
		"other Ed25519 key, our kid": {craft(t, hdr("EdDSA", kid), f.payload(), jwa.EdDSA, otherEd), errSignature},
		"ES256, our kid":             {craft(t, hdr("ES256", kid), f.payload(), jwa.ES256, otherEC), errHeader},
		"RS256, our kid":             {craft(t, hdr("RS256", kid), f.payload(), jwa.RS256, otherRSA), errHeader},
		"PS256, our kid":             {craft(t, hdr("PS256", kid), f.payload(), jwa.PS256, otherRSA), errHeader},
		"ES256 stored key, its kid":  {craft(t, hdr("ES256", ecKID), f.payload(), jwa.ES256, ecKey), errKey},
		"our key, alg ES256 claimed": {f.signOurs(t, hdr("ES256", kid), f.payload()), errHeader},
		"our key, alg eddsa":         {f.signOurs(t, hdr("eddsa", kid), f.payload()), errHeader},
		"our key, alg Ed25519":       {f.signOurs(t, hdr("Ed25519", kid), f.payload()), errHeader},
		"our key, no kid":            {f.signOurs(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, f.payload()), errKey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { reject(t, f, tc.tok, tc.want) })
	}
}

func TestVerify_C18_EmbeddedKeyHeadersIgnored(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)

	f := newFixture(t, testConfig(EdDSA))
	kid := f.active(t).kid
	attackerPub, attacker, _ := ed25519.GenerateKey(nil)
	attackerKID, _ := thumbprintKID(attackerPub)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(time.Hour)}
	cert, err := x509.CreateCertificate(nil, tmpl, tmpl, attackerPub, attacker)
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string]any{
		"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(attackerPub), "kid": kid},
		"jku": srv.URL + "/jwks.json",
		"x5u": srv.URL + "/cert.pem",
		"x5c": []string{base64.StdEncoding.EncodeToString(cert)},
	}
	for member, value := range embedded {
		for kidName, k := range map[string]any{"our kid": kid, "attacker kid": attackerKID, "no kid": nil} {
			h := map[string]any{"alg": "EdDSA", "typ": "at+jwt", member: value}
			if k != nil {
				h["kid"] = k
			}
			tok := craft(t, h, f.payload(), jwa.EdDSA, attacker)
			t.Run(member+"/"+kidName, func(t *testing.T) { reject(t, f, tok, nil) })
		}
		// Signed by our own key, the member is simply ignored: the token verifies with our key.
		h := f.ourHeader(t)
		h[member] = value
		t.Run(member+"/signed by us", func(t *testing.T) { accept(t, f, f.signOurs(t, h, f.payload())) })
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("Verify made %d outgoing requests", n)
	}
}

func TestVerify_C19_HostileKid(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	before := f.store.Calls()
	_, attacker, _ := ed25519.GenerateKey(nil)
	kids := map[string]any{
		"unknown":         "d5d4b1a3-unknown",
		"path":            "../../../../etc/passwd",
		"absolute path":   "/dev/zero",
		"url":             "http://169.254.169.254/latest/meta-data",
		"sql":             "' OR '1'='1' --",
		"sql union":       "x' UNION SELECT private FROM signing_keys --",
		"nul byte":        "abc\x00def",
		"number":          42,
		"object":          map[string]any{"$ne": ""},
		"array":           []string{"a"},
		"empty":           "",
		"almost ours":     f.active(t).kid + " ",
		"case of ours":    strings.ToUpper(f.active(t).kid),
		"900 bytes":       strings.Repeat("k", 900),
		"8 KiB in header": strings.Repeat("k", 8<<10),
	}
	for name, kid := range kids {
		for signer, key := range map[string]any{"ours": f.active(t).priv, "attacker": attacker} {
			h := map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
			tok := craft(t, h, f.payload(), jwa.EdDSA, key)
			t.Run(name+"/"+signer, func(t *testing.T) { reject(t, f, tok, nil) })
		}
	}
	if after := f.store.Calls(); after != before {
		t.Fatalf("Verify called the key store %d times", after-before)
	}
}

func TestVerify_C20_TimeClaims(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	now := f.clock.Now().Unix()
	set := func(kv ...any) map[string]any {
		p := f.payload()
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return p
	}
	raw := func(member, value string) string { // a claim value JSON cannot hold in a Go map
		p := f.payload()
		delete(p, member)
		b := mustJSON(t, p)
		return string(b[:len(b)-1]) + `,"` + member + `":` + value + `}`
	}
	rejected := map[string]struct {
		payload any
		want    error
	}{
		"exp past":              {set("iat", now-1000, "nbf", now-1000, "exp", now-100), errExpired},
		"exp just past leeway":  {set("iat", now-1000, "nbf", now-1000, "exp", now-30), errExpired},
		"exp missing":           {set("exp", nil), errClaims},
		"exp null":              {raw("exp", "null"), errClaims},
		"exp string":            {set("exp", "9999999999"), errClaims},
		"exp fraction":          {raw("exp", "1893553445.5"), errClaims},
		"exp exponent":          {raw("exp", "1e10"), errClaims},
		"exp huge":              {raw("exp", "99999999999999999999999"), errClaims},
		"exp 2^62":              {set("exp", int64(1)<<62), errClaims},
		"exp one year":          {set("exp", now+365*24*3600), errClaims},
		"exp negative":          {set("exp", -1), errClaims},
		"exp before iat":        {set("iat", now, "exp", now-1), errClaims},
		"nbf future":            {set("nbf", now+3600), errNotYet},
		"nbf beyond leeway":     {set("nbf", now+31), errNotYet},
		"nbf missing":           {set("nbf", nil), errClaims},
		"iat future":            {set("iat", now+600), errNotYet},
		"iat missing":           {set("iat", nil), errClaims},
		"iat string":            {set("iat", "now"), errClaims},
		"sub missing":           {set("sub", nil), errClaims},
		"sid missing":           {set("sid", nil), errClaims},
		"jti missing":           {set("jti", nil), errClaims},
		"roles not strings":     {set("roles", []int{1}), errClaims},
		"payload not an object": {`["exp"]`, errClaims},
		"payload not JSON":      {`exp=1`, errClaims},
	}
	for name, tc := range rejected {
		tok := f.signOurs(t, f.ourHeader(t), tc.payload)
		t.Run(name, func(t *testing.T) { reject(t, f, tok, tc.want) })
	}
	accepted := map[string]any{
		"exp within leeway": set("iat", now-1000, "nbf", now-1000, "exp", now-29),
		"nbf within leeway": set("nbf", now+30),
		"iat within leeway": set("iat", now+30, "nbf", now),
		"no roles":          set("roles", nil),
		"unknown claim":     set("scope", "openid"),
	}
	for name, p := range accepted {
		tok := f.signOurs(t, f.ourHeader(t), p)
		t.Run(name, func(t *testing.T) { accept(t, f, tok) })
	}
}

func TestVerify_C21_IssuerAudience(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	cases := map[string][2]any{
		"iss wrong":     {"iss", "https://evil.example"},
		"iss prefix":    {"iss", testIssuer + ".evil"},
		"iss missing":   {"iss", nil},
		"iss empty":     {"iss", ""},
		"aud wrong":     {"aud", "other-service"},
		"aud missing":   {"aud", nil},
		"aud empty":     {"aud", ""},
		"aud array":     {"aud", []string{testAudience}},
		"aud wrong arr": {"aud", []string{"other"}},
		"aud number":    {"aud", 1},
	}
	for name, c := range cases {
		p := f.payload()
		if c[1] == nil {
			delete(p, c[0].(string))
		} else {
			p[c[0].(string)] = c[1]
		}
		tok := f.signOurs(t, f.ourHeader(t), p)
		t.Run(name, func(t *testing.T) { reject(t, f, tok, nil) })
	}
}

func TestVerify_C22_TokenType(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	for _, typ := range []any{nil, "", "JWT", "jwt", "application/jwt", "rt+jwt", "refresh+jwt", "reset", "verify-email", "at+jwt ", "at+jwt, JWT", 1, []string{"at+jwt"}} {
		h := f.ourHeader(t)
		if typ == nil {
			delete(h, "typ")
		} else {
			h["typ"] = typ
		}
		tok := f.signOurs(t, h, f.payload())
		t.Run(strings.TrimSpace(strings.ReplaceAll(string(mustJSON(t, typ)), "/", "_")), func(t *testing.T) { reject(t, f, tok, errHeader) })
	}
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt"} {
		h := f.ourHeader(t)
		h["typ"] = typ
		accept(t, f, f.signOurs(t, h, f.payload()))
	}
	// Opaque refresh, reset and verification tokens are not JWS at all.
	for _, opaque := range []string{enc.EncodeToString(randomBytes(32)), "rt_" + enc.EncodeToString(randomBytes(32)), "v1." + enc.EncodeToString(randomBytes(32))} {
		reject(t, f, opaque, errMalformed)
	}
}

func TestVerify_C23_CritHeader(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	for name, extra := range map[string]map[string]any{
		"crit unknown":    {"crit": []string{"x-portcullis-magic"}, "x-portcullis-magic": true},
		"crit exp":        {"crit": []string{"exp"}},
		"crit b64":        {"crit": []string{"b64"}, "b64": true},
		"crit empty":      {"crit": []string{}},
		"crit null":       {"crit": nil},
		"crit string":     {"crit": "kid"},
		"crit upper case": {"CRIT": []string{"x"}},
		"b64 false":       {"b64": false},
		"enc (JWE)":       {"enc": "A256GCM"},
		"zip (JWE)":       {"zip": "DEF"},
	} {
		h := f.ourHeader(t)
		for k, v := range extra {
			h[k] = v
		}
		tok := f.signOurs(t, h, f.payload())
		t.Run(name, func(t *testing.T) { reject(t, f, tok, errHeader) })
	}
}

func TestVerify_C24_ES256ZeroSignature(t *testing.T) {
	f := newFixture(t, testConfig(ES256))
	valid := f.issue(t)
	accept(t, f, valid)
	input := valid[:strings.LastIndexByte(valid, '.')]
	sig, _ := enc.DecodeString(valid[len(input)+1:])
	zero := make([]byte, 32)
	n := elliptic.P256().Params().N.FillBytes(make([]byte, 32))
	for name, s := range map[string][]byte{
		"r=s=0":  make([]byte, 64),
		"r=0":    append(append([]byte{}, zero...), sig[32:]...),
		"s=0":    append(append([]byte{}, sig[:32]...), zero...),
		"r=s=n":  append(append([]byte{}, n...), n...),
		"r=n":    append(append([]byte{}, n...), sig[32:]...),
		"short":  make([]byte, 63),
		"DER 0s": {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00},
	} {
		tok := input + "." + enc.EncodeToString(s)
		t.Run(name, func(t *testing.T) { reject(t, f, tok, errSignature) })
	}
}

func TestVerify_C25_JWEJSONNonCanonical(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	valid := f.issue(t)
	p := strings.Split(valid, ".")
	std := func(s string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(s) }
	// bump changes the last character of a base64url part to one that decodes to the same bytes
	// under a lenient decoder (it differs only in the unused low bits).
	bump := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[i^1])
	}
	jwe := enc.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"`+f.active(t).kid+`"}`)) +
		"..iv" + "." + enc.EncodeToString(randomBytes(40)) + "." + enc.EncodeToString(randomBytes(16))
	cases := map[string]string{
		"JWE 5 parts":        jwe,
		"JWE 5 parts filled": p[0] + "." + p[1] + "." + p[2] + "." + p[1] + "." + p[2],
		"JSON general":       `{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`,
		"JSON flattened":     `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`,
		"padded signature":   valid + "==",
		"padded header":      p[0] + "=." + p[1] + "." + p[2],
		"sig trailing bits":  p[0] + "." + p[1] + "." + bump(p[2]),
		"payload std b64":    p[0] + "." + std(p[1]) + "+/" + "." + p[2],
		"leading space":      " " + valid,
		"trailing newline":   valid + "\n",
		"inner newline":      p[0] + "." + p[1][:10] + "\n" + p[1][10:] + "." + p[2],
		"bearer prefix":      "Bearer " + valid,
		"empty header":       "." + p[1] + "." + p[2],
		"empty payload":      p[0] + ".." + p[2],
		"only dots":          "..",
		"not base64 header":  "!!!!." + p[1] + "." + p[2],
	}
	// A payload whose last character carries stray bits, signed honestly: the signature is valid
	// over the text, but the text is not canonical, so it is refused before the signature check.
	if len(p[1])%4 != 0 {
		odd := p[0] + "." + bump(p[1])
		k := f.active(t)
		sig, err := k.signer.Sign([]byte(odd), k.priv)
		if err != nil {
			t.Fatal(err)
		}
		cases["payload trailing bits, signed"] = odd + "." + enc.EncodeToString(sig)
	}
	if s := std(valid); s != valid {
		cases["standard alphabet"] = s
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { reject(t, f, tok, errMalformed) })
	}
}

func TestVerify_C26_OversizedCheap(t *testing.T) {
	f := newFixture(t, testConfig(EdDSA))
	valid := f.issue(t)
	p := strings.Split(valid, ".")
	cases := map[string]string{
		"64 KiB":          valid + strings.Repeat("A", 64<<10),
		"64 KiB payload":  p[0] + "." + strings.Repeat("A", 64<<10) + "." + p[2],
		"a million dots":  strings.Repeat(".", 1<<20),
		"8 KiB + 1":       strings.Repeat("A", MaxTokenLength-len(valid)+1) + valid,
		"many dots short": strings.Repeat(".", 100),
		"2 KiB header":    strings.Repeat("e", 2<<10) + "." + p[1] + "." + p[2],
		"empty":           "",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			reject(t, f, tok, errMalformed)
			allocs := testing.AllocsPerRun(20, func() { _, _ = f.tok.Verify(context.Background(), tok) })
			if allocs != 0 {
				t.Fatalf("refusing it allocated %.0f times", allocs)
			}
		})
	}
}

func TestVerify_RetiredKeyWindow(t *testing.T) {
	cfg := testConfig(EdDSA)
	cfg.PublishAhead = -1 // rotate at once
	f := newFixture(t, cfg)
	ctx := context.Background()
	oldKID := f.active(t).kid
	old := f.issue(t)
	newKID, err := f.tok.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if newKID == oldKID || f.active(t).kid != newKID {
		t.Fatalf("after Rotate the active kid is %s (old %s, new %s)", f.active(t).kid, oldKID, newKID)
	}
	accept(t, f, old)
	f.clock.Advance(cfg.AccessTTL + cfg.Leeway - time.Second)
	jwks, _ := f.tok.JWKS()
	if !strings.Contains(string(jwks), oldKID) {
		t.Fatal("retired key left the JWKS before its tokens expired")
	}
	f.clock.Advance(time.Second)
	// The token has expired by now in any case, and so has its key.
	reject(t, f, old, errKey)
}
