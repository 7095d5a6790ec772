package contract

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// TOTPFactors runs the ports.TOTPFactors contract. open must return a store in which the
// suite's fresh user ids are unknown, with its own cleanup.
func TOTPFactors(t *testing.T, open func(t *testing.T) ports.TOTPFactors) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.TOTPFactors)
	}{
		{"PutGetConfirmRoundTrip", totpRoundTrip},
		{"PutReplacesPendingNotConfirmed", totpPutReplaces}, // and Confirm of the replaced secret confirms nothing
		{"ConfirmNeedsPending", totpConfirmNeedsPending},
		{"UseStepOnlyForward", totpUseStepForward},
		{"ConcurrentUseStepOneWins", totpConcurrentUseStep},
		{"DeleteIdempotent", totpDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

func pendingFactor(userID string) domain.TOTPFactor {
	return domain.TOTPFactor{UserID: userID, Secret: randomBytes(61), CreatedAt: now()}
}

func mustGetFactor(t *testing.T, st ports.TOTPFactors, userID string) domain.TOTPFactor {
	t.Helper()
	f, err := st.Get(t.Context(), userID)
	if err != nil {
		t.Fatalf("Get(%s): %v", userID, err)
	}
	return f
}

func totpRoundTrip(t *testing.T, st ports.TOTPFactors) {
	ctx := t.Context()
	uid := uuid.NewString()
	if _, err := st.Get(ctx, uid); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get before Put = %v, want ErrNotFound", err)
	}
	f := pendingFactor(uid)
	f.Confirmed, f.LastStep = true, 99 // Put stores a pending factor whatever it is given
	if err := st.Put(ctx, f); err != nil {
		t.Fatal(err)
	}
	got := mustGetFactor(t, st, uid)
	if got.Confirmed || !got.ConfirmedAt.IsZero() || !bytes.Equal(got.Secret, f.Secret) ||
		!got.CreatedAt.Equal(f.CreatedAt.Truncate(time.Millisecond)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("after Put: %+v, want pending with the secret and creation time of %+v", got, f)
	}
	at := now().Add(time.Minute)
	if err := st.Confirm(ctx, uid, f.Secret, 12345, at); err != nil {
		t.Fatal(err)
	}
	got = mustGetFactor(t, st, uid)
	if !got.Confirmed || got.LastStep != 12345 || !got.ConfirmedAt.Equal(at.Truncate(time.Millisecond)) || !bytes.Equal(got.Secret, f.Secret) {
		t.Fatalf("after Confirm: %+v", got)
	}
}

func totpPutReplaces(t *testing.T, st ports.TOTPFactors) {
	ctx := t.Context()
	uid := uuid.NewString()
	first, second := pendingFactor(uid), pendingFactor(uid)
	if err := st.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, second); err != nil {
		t.Fatalf("Put over a pending factor: %v", err)
	}
	if got := mustGetFactor(t, st, uid); !bytes.Equal(got.Secret, second.Secret) {
		t.Fatal("the second Put did not replace the pending factor")
	}
	// The replaced secret confirms nothing: the factor whose code was checked is gone.
	if err := st.Confirm(ctx, uid, first.Secret, 1, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Confirm of the replaced secret = %v, want ErrNotFound", err)
	}
	if got := mustGetFactor(t, st, uid); got.Confirmed {
		t.Fatal("a Confirm of the replaced secret confirmed the new one")
	}
	if err := st.Confirm(ctx, uid, second.Secret, 1, now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, pendingFactor(uid)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Put over a confirmed factor = %v, want ErrConflict", err)
	}
	if got := mustGetFactor(t, st, uid); !got.Confirmed || !bytes.Equal(got.Secret, second.Secret) {
		t.Fatalf("the confirmed factor changed: %+v", got)
	}
	// Another user's factor is independent.
	if err := st.Put(ctx, pendingFactor(uuid.NewString())); err != nil {
		t.Fatal(err)
	}
}

func totpConfirmNeedsPending(t *testing.T, st ports.TOTPFactors) {
	ctx := t.Context()
	uid := uuid.NewString()
	f := pendingFactor(uid)
	if err := st.Confirm(ctx, uid, f.Secret, 1, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Confirm without a factor = %v, want ErrNotFound", err)
	}
	if err := st.Put(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := st.UseStep(ctx, uid, 5); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("UseStep on a pending factor = %v, want ErrNotFound", err)
	}
	if err := st.Confirm(ctx, uid, f.Secret, 1, now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Confirm(ctx, uid, f.Secret, 2, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second Confirm = %v, want ErrNotFound", err)
	}
	if got := mustGetFactor(t, st, uid); got.LastStep != 1 {
		t.Fatalf("LastStep = %d after a refused Confirm, want 1", got.LastStep)
	}
}

func confirmedFactor(t *testing.T, st ports.TOTPFactors, step int64) string {
	t.Helper()
	uid := uuid.NewString()
	f := pendingFactor(uid)
	if err := st.Put(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if err := st.Confirm(t.Context(), uid, f.Secret, step, now()); err != nil {
		t.Fatal(err)
	}
	return uid
}

func totpUseStepForward(t *testing.T, st ports.TOTPFactors) {
	ctx := t.Context()
	uid := confirmedFactor(t, st, 100)
	for _, step := range []int64{100, 99, 1} {
		if err := st.UseStep(ctx, uid, step); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("UseStep(%d) with last 100 = %v, want ErrConflict", step, err)
		}
	}
	if err := st.UseStep(ctx, uid, 101); err != nil {
		t.Fatal(err)
	}
	if err := st.UseStep(ctx, uid, 101); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("UseStep(101) twice = %v, want ErrConflict", err)
	}
	if err := st.UseStep(ctx, uid, 103); err != nil {
		t.Fatal(err)
	}
	if got := mustGetFactor(t, st, uid); got.LastStep != 103 {
		t.Fatalf("LastStep = %d, want 103", got.LastStep)
	}
	if err := st.UseStep(ctx, uuid.NewString(), 5); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("UseStep without a factor = %v, want ErrNotFound", err)
	}
}

func totpConcurrentUseStep(t *testing.T, st ports.TOTPFactors) {
	uid := confirmedFactor(t, st, 10)
	var (
		wg       sync.WaitGroup
		ok, dupe atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			err := st.UseStep(context.Background(), uid, 11)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, domain.ErrConflict):
				dupe.Add(1)
			default:
				t.Errorf("UseStep: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || dupe.Load() != 15 {
		t.Fatalf("%d uses succeeded and %d were replays, want 1 and 15", ok.Load(), dupe.Load())
	}
}

func totpDelete(t *testing.T, st ports.TOTPFactors) {
	ctx := t.Context()
	uid := confirmedFactor(t, st, 1)
	other := confirmedFactor(t, st, 1)
	for range 2 {
		if err := st.Delete(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Get(ctx, uid); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	mustGetFactor(t, st, other)
	if err := st.Put(ctx, pendingFactor(uid)); err != nil {
		t.Fatalf("Put after Delete: %v", err)
	}
}

// RecoveryCodes runs the ports.RecoveryCodes contract.
func RecoveryCodes(t *testing.T, open func(t *testing.T) ports.RecoveryCodes) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.RecoveryCodes)
	}{
		{"UseOnce", recoveryUseOnce},
		{"ReplaceDropsOld", recoveryReplace},
		{"ConcurrentUseOneWins", recoveryConcurrentUse},
		{"DeleteByUser", recoveryDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

func codeHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomBytes(32)
	}
	return out
}

func mustCount(t *testing.T, st ports.RecoveryCodes, uid string, want int) {
	t.Helper()
	n, err := st.Count(t.Context(), uid)
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Count = %d, want %d", n, want)
	}
}

func recoveryUseOnce(t *testing.T, st ports.RecoveryCodes) {
	ctx := t.Context()
	uid, other := uuid.NewString(), uuid.NewString()
	hashes := codeHashes(domain.RecoveryCodeCount)
	if err := st.Replace(ctx, uid, hashes, now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Replace(ctx, other, codeHashes(3), now()); err != nil {
		t.Fatal(err)
	}
	mustCount(t, st, uid, 10)
	if err := st.Use(ctx, other, hashes[0]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another user's code = %v, want ErrNotFound", err)
	}
	if err := st.Use(ctx, uid, hashes[0]); err != nil {
		t.Fatal(err)
	}
	if err := st.Use(ctx, uid, hashes[0]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a used code = %v, want ErrNotFound", err)
	}
	if err := st.Use(ctx, uid, randomBytes(32)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("an unknown code = %v, want ErrNotFound", err)
	}
	mustCount(t, st, uid, 9)
	mustCount(t, st, other, 3)
}

func recoveryReplace(t *testing.T, st ports.RecoveryCodes) {
	ctx := t.Context()
	uid := uuid.NewString()
	old, fresh := codeHashes(10), codeHashes(10)
	if err := st.Replace(ctx, uid, old, now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Replace(ctx, uid, fresh, now()); err != nil {
		t.Fatal(err)
	}
	mustCount(t, st, uid, 10)
	if err := st.Use(ctx, uid, old[3]); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("a replaced code = %v, want ErrNotFound", err)
	}
	if err := st.Use(ctx, uid, fresh[3]); err != nil {
		t.Fatal(err)
	}
}

func recoveryConcurrentUse(t *testing.T, st ports.RecoveryCodes) {
	uid := uuid.NewString()
	hashes := codeHashes(2)
	if err := st.Replace(t.Context(), uid, hashes, now()); err != nil {
		t.Fatal(err)
	}
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			err := st.Use(context.Background(), uid, hashes[1])
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("Use: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent uses of one code succeeded, want 1", ok.Load())
	}
	mustCount(t, st, uid, 1)
}

func recoveryDelete(t *testing.T, st ports.RecoveryCodes) {
	ctx := t.Context()
	uid, other := uuid.NewString(), uuid.NewString()
	for _, u := range []string{uid, other} {
		if err := st.Replace(ctx, u, codeHashes(4), now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteByUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	mustCount(t, st, uid, 0)
	mustCount(t, st, other, 4)
}

// Challenges runs the ports.Challenges contract.
func Challenges(t *testing.T, open func(t *testing.T) ports.Challenges) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.Challenges)
	}{
		{"PutTakeRoundTrip", challengeRoundTrip},
		{"TakeOnce", challengeTakeOnce},
		{"OtherPurposeNotFound", challengeOtherPurpose},
		{"Expired", challengeExpired},
		{"DuplicateHashConflicts", challengeDuplicate},
		{"ConcurrentTakeOneWins", challengeConcurrentTake},
		{"GetKeeps", challengeGetKeeps},
		{"GetOtherPurposeOrMissingNotFound", challengeGetNotFound},
		{"GetExpired", challengeGetExpired},
		{"ConcurrentGetsKeep", challengeConcurrentGets},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

func newChallenge(purpose domain.ChallengePurpose, ttl time.Duration) domain.Challenge {
	at := now()
	return domain.Challenge{Hash: randomBytes(32), Purpose: purpose, UserID: uuid.NewString(),
		Data: []byte(`{"amr":["pwd"],"bin":"` + "\x00\xff" + `"}`), Attempts: 2, CreatedAt: at, ExpiresAt: at.Add(ttl)}
}

func mustPut(t *testing.T, st ports.Challenges, c domain.Challenge) {
	t.Helper()
	if err := st.Put(t.Context(), c); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func challengeRoundTrip(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, 5*time.Minute)
	mustPut(t, st, c)
	anon := newChallenge(domain.ChallengePasskeyLogin, time.Minute)
	anon.UserID, anon.Data, anon.Attempts = "", nil, 0
	mustPut(t, st, anon)
	for _, want := range []domain.Challenge{c, anon} {
		got, err := st.Take(t.Context(), want.Hash, want.Purpose, now())
		if err != nil {
			t.Fatal(err)
		}
		if !sameChallenge(got, want) {
			t.Fatalf("Take = %+v, want %+v", got, want)
		}
	}
}

// sameChallenge reports whether got is want as stored (times to the millisecond, in UTC).
func sameChallenge(got, want domain.Challenge) bool {
	return bytes.Equal(got.Hash, want.Hash) && got.Purpose == want.Purpose && got.UserID == want.UserID &&
		bytes.Equal(got.Data, want.Data) && got.Attempts == want.Attempts &&
		got.CreatedAt.Equal(want.CreatedAt.Truncate(time.Millisecond)) &&
		got.ExpiresAt.Equal(want.ExpiresAt.Truncate(time.Millisecond)) && got.ExpiresAt.Location() == time.UTC
}

func challengeTakeOnce(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second Take = %v, want ErrNotFound", err)
	}
	// Given back (as after a wrong code), it can be taken again.
	c.Attempts++
	mustPut(t, st, c)
	got, err := st.Take(t.Context(), c.Hash, c.Purpose, now())
	if err != nil || got.Attempts != 3 {
		t.Fatalf("Take after Put back = %+v, %v; want 3 attempts", got, err)
	}
}

func challengeOtherPurpose(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengePasskeyRegister, time.Minute)
	mustPut(t, st, c)
	for _, p := range []domain.ChallengePurpose{domain.ChallengeMFA, domain.ChallengePasskeyLogin} {
		if _, err := st.Take(t.Context(), c.Hash, p, now()); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("Take as %s = %v, want ErrNotFound", p, err)
		}
	}
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, now()); err != nil {
		t.Fatalf("the challenge did not survive a Take of another purpose: %v", err)
	}
}

func challengeExpired(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, c.ExpiresAt); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Take at expiry = %v, want ErrNotFound", err)
	}
	past := newChallenge(domain.ChallengeMFA, time.Minute)
	past.CreatedAt, past.ExpiresAt = now().Add(-time.Hour), now().Add(-time.Minute)
	if err := st.Put(t.Context(), past); err != nil {
		t.Fatalf("Put of an expired challenge: %v", err)
	}
	if _, err := st.Take(t.Context(), past.Hash, past.Purpose, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Take of an expired challenge = %v, want ErrNotFound", err)
	}
}

func challengeDuplicate(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	dup := c
	dup.UserID = uuid.NewString()
	if err := st.Put(t.Context(), dup); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Put of a held hash = %v, want ErrConflict", err)
	}
	got, err := st.Take(t.Context(), c.Hash, c.Purpose, now())
	if err != nil || got.UserID != c.UserID {
		t.Fatalf("Take = %+v, %v; want the first challenge", got, err)
	}
}

func challengeConcurrentTake(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			_, err := st.Take(context.Background(), c.Hash, c.Purpose, now())
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("Take: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent Takes succeeded, want 1", ok.Load())
	}
}

// Get reads a challenge and leaves it: a Get, twice, then a Take all return it; after the
// Take, Get finds nothing.
func challengeGetKeeps(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, 5*time.Minute)
	mustPut(t, st, c)
	for i := range 2 {
		got, err := st.Get(t.Context(), c.Hash, c.Purpose, now())
		if err != nil || !sameChallenge(got, c) {
			t.Fatalf("Get %d = %+v, %v; want %+v", i+1, got, err, c)
		}
	}
	got, err := st.Take(t.Context(), c.Hash, c.Purpose, now())
	if err != nil || !sameChallenge(got, c) {
		t.Fatalf("Take after Get = %+v, %v; want the challenge", got, err)
	}
	if _, err := st.Get(t.Context(), c.Hash, c.Purpose, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get after Take = %v, want ErrNotFound", err)
	}
}

func challengeGetNotFound(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengePasskeyRegister, time.Minute)
	mustPut(t, st, c)
	for _, p := range []domain.ChallengePurpose{domain.ChallengeMFA, domain.ChallengePasskeyLogin} {
		if _, err := st.Get(t.Context(), c.Hash, p, now()); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("Get as %s = %v, want ErrNotFound", p, err)
		}
	}
	if _, err := st.Get(t.Context(), randomBytes(32), c.Purpose, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get of an unknown hash = %v, want ErrNotFound", err)
	}
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, now()); err != nil {
		t.Fatalf("the challenge did not survive a Get of another purpose: %v", err)
	}
}

func challengeGetExpired(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	if _, err := st.Get(t.Context(), c.Hash, c.Purpose, c.ExpiresAt); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get at expiry = %v, want ErrNotFound", err)
	}
	if _, err := st.Get(t.Context(), c.Hash, c.Purpose, c.ExpiresAt.Add(-time.Second)); err != nil {
		t.Fatalf("Get a second before expiry = %v", err)
	}
	past := newChallenge(domain.ChallengeMFA, time.Minute)
	past.CreatedAt, past.ExpiresAt = now().Add(-time.Hour), now().Add(-time.Minute)
	if err := st.Put(t.Context(), past); err != nil {
		t.Fatalf("Put of an expired challenge: %v", err)
	}
	if _, err := st.Get(t.Context(), past.Hash, past.Purpose, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get of an expired challenge = %v, want ErrNotFound", err)
	}
}

// Concurrent Gets all see the challenge and none spends it: one Take still gets it.
func challengeConcurrentGets(t *testing.T, st ports.Challenges) {
	c := newChallenge(domain.ChallengeMFA, time.Minute)
	mustPut(t, st, c)
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			if _, err := st.Get(context.Background(), c.Hash, c.Purpose, now()); err != nil {
				t.Errorf("Get: %v", err)
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	if ok.Load() != 16 {
		t.Fatalf("%d of 16 concurrent Gets found the challenge", ok.Load())
	}
	if _, err := st.Take(t.Context(), c.Hash, c.Purpose, now()); err != nil {
		t.Fatalf("Take after concurrent Gets: %v", err)
	}
}
