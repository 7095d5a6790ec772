package jwxtoken

import (
	"context"
	"testing"
)

func BenchmarkIssue(b *testing.B) {
	f := newFixture(b, testConfig(EdDSA))
	c := f.claims()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.tok.Issue(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures a token seen before: answered by the verified-token cache.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, testConfig(EdDSA))
	tok := f.issue(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.tok.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUncached measures the full check (signature and claims), as for a token the
// instance has not seen, with the cache turned off.
func BenchmarkVerifyUncached(b *testing.B) {
	cfg := testConfig(EdDSA)
	cfg.CacheSize = -1
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
