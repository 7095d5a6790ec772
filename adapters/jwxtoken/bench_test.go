package jwxtoken

import (
	"context"
	"testing"
)

// benchAlgs are the algorithms JWT_ALG accepts, EdDSA (the default) first: BenchmarkIssue and
// BenchmarkVerifyUncached measure each, so that README "Tokens" can say what the choice costs
// (signing is the largest single cost of a refresh).
var benchAlgs = []string{EdDSA, ES256, RS256, HS256}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, testConfig(alg))
			c := f.claims()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.tok.Issue(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures a token seen before: answered by the verified-token cache.
func BenchmarkVerify(b *testing.B) {
	benchVerify(b, testConfig(EdDSA))
}

// BenchmarkVerifyUncached measures the full check (signature and claims), as for a token the
// instance has not seen, with the cache turned off.
func BenchmarkVerifyUncached(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			cfg := testConfig(alg)
			cfg.CacheSize = -1
			benchVerify(b, cfg)
		})
	}
}

// benchVerify measures Verify of one token issued under cfg, presented again and again.
func benchVerify(b *testing.B, cfg Config) {
	f := newFixture(b, cfg)
	tok := f.issue(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.tok.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyReject measures refusing a forged token (bad signature), the cost an attacker
// can impose per request.
func BenchmarkVerifyReject(b *testing.B) {
	f := newFixture(b, testConfig(EdDSA))
	tok := f.issue(b)
	forged := tok[:len(tok)-2] + "AA"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.tok.Verify(ctx, forged); err == nil {
			b.Fatal("accepted")
		}
	}
}
