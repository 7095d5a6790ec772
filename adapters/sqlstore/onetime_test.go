package sqlstore

import (
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

func testToken(userID string, at time.Time, ttl time.Duration) domain.OneTimeToken {
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	return domain.OneTimeToken{Hash: hash, UserID: userID,
		Purpose: domain.PurposeResetPassword, CreatedAt: at, ExpiresAt: at.Add(ttl)}
}

// TestOneTimeTokensConcurrentCreate: many Creates for one user and purpose at once (two
// forgot-password requests racing) all succeed, even where MySQL's gap locks make them deadlock,
// and leave exactly one live token.
func TestOneTimeTokensConcurrentCreate(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			st := NewOneTimeTokens(openTest(t, kind))
			now := time.Now().UTC()
			toks := make([]domain.OneTimeToken, 8)
			errs := make([]error, len(toks))
			var wg sync.WaitGroup
			for i := range toks {
				toks[i] = testToken("user-1", now, time.Hour)
				wg.Go(func() { errs[i] = st.Create(t.Context(), toks[i]) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			live := 0
			for _, tok := range toks {
				if _, err := st.Consume(t.Context(), tok.Hash, tok.Purpose, now); err == nil {
					live++
				} else if !errors.Is(err, domain.ErrNotFound) {
					t.Fatal(err)
				}
			}
			if live != 1 {
				t.Fatalf("%d tokens live after concurrent Creates, want 1", live)
			}
		})
	}
}

func TestOneTimeTokensPurgeExpired(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			st := NewOneTimeTokens(openTest(t, kind))
			now := time.Now().UTC()
			for i, ttl := range []time.Duration{time.Minute, time.Second, time.Hour} {
				if err := st.Create(t.Context(), testToken(string(rune('a'+i)), now, ttl)); err != nil {
					t.Fatal(err)
				}
			}
			n, err := st.PurgeExpired(t.Context(), now.Add(time.Minute))
			if err != nil || n != 2 {
				t.Fatalf("PurgeExpired = %d, %v; want 2", n, err)
			}
		})
	}
}

// TestOneTimeTokensDuplicateHash: a hash held by another user's token is a conflict (MySQL's
// upsert cannot report it and stores nothing instead); either way the other token is intact.
func TestOneTimeTokensDuplicateHash(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			st := NewOneTimeTokens(openTest(t, kind))
			now := time.Now().UTC()
			a := testToken("user-a", now, time.Hour)
			b := a
			b.UserID = "user-b"
			b.ExpiresAt = now.Add(2 * time.Hour)
			if err := st.Create(t.Context(), a); err != nil {
				t.Fatal(err)
			}
			err := st.Create(t.Context(), b)
			if kind == MySQL {
				if err != nil {
					t.Fatalf("Create with a taken hash on MySQL = %v, want nil", err)
				}
			} else if !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("Create with a taken hash = %v, want domain.ErrConflict", err)
			}
			got, err := st.Consume(t.Context(), a.Hash, a.Purpose, now)
			if err != nil || got.UserID != a.UserID || !got.ExpiresAt.Equal(dbTime(a.ExpiresAt)) {
				t.Fatalf("Consume = %+v, %v; want the first token unchanged", got, err)
			}
		})
	}
}
