package contract

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// OneTimeTokens runs the ports.OneTimeTokens contract. open must return an empty store (or one
// whose other content cannot collide: the suite uses fresh UUIDs and random hashes) for each
// subtest, and arrange its own cleanup with t.Cleanup. Times are compared at millisecond
// precision and must come back in UTC.
func OneTimeTokens(t *testing.T, open func(t *testing.T) ports.OneTimeTokens) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.OneTimeTokens)
	}{
		{"CreateConsumeRoundTrip", tokenRoundTrip},
		{"ConsumeTwice", tokenConsumeTwice},
		{"ConsumeUnknown", tokenConsumeUnknown},
		{"Expired", tokenExpired},
		{"WrongPurposeKeepsToken", tokenWrongPurpose},
		{"Superseded", tokenSuperseded},
		{"OtherUsersAndPurposesNotSuperseded", tokenNotSuperseded},
		{"DeleteByUser", tokenDeleteByUser},
		{"ConcurrentConsume", tokenConcurrentConsume},
		{"ConcurrentCreate", tokenConcurrentCreate},
		{"ContextCancelled", tokenContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// newToken is a fresh token of userID for purpose created at at, valid for 30 minutes.
func newToken(userID string, purpose domain.TokenPurpose, at time.Time) domain.OneTimeToken {
	return domain.OneTimeToken{
		Hash:      randomBytes(32),
		UserID:    userID,
		Purpose:   purpose,
		CreatedAt: at,
		ExpiresAt: at.Add(30 * time.Minute),
	}
}

func mustCreateToken(t *testing.T, st ports.OneTimeTokens, tok domain.OneTimeToken) {
	t.Helper()
	if err := st.Create(t.Context(), tok); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

// mustConsume consumes tok at at and checks that the store gives back what was stored.
func mustConsume(t *testing.T, st ports.OneTimeTokens, tok domain.OneTimeToken, at time.Time) {
	t.Helper()
	got, err := st.Consume(t.Context(), tok.Hash, tok.Purpose, at)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	if !bytes.Equal(got.Hash, tok.Hash) || got.UserID != tok.UserID || got.Purpose != tok.Purpose ||
		!sameInstant(got.CreatedAt, tok.CreatedAt) || !sameInstant(got.ExpiresAt, tok.ExpiresAt) {
		t.Fatalf("Consume = %+v, want %+v", got, tok)
	}
	if got.CreatedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
		t.Fatalf("times not in UTC: %v, %v", got.CreatedAt.Location(), got.ExpiresAt.Location())
	}
}

// mustNotConsume checks that consuming hash for purpose at at is domain.ErrNotFound.
func mustNotConsume(t *testing.T, st ports.OneTimeTokens, hash []byte, purpose domain.TokenPurpose, at time.Time) {
	t.Helper()
	if got, err := st.Consume(t.Context(), hash, purpose, at); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Consume = %+v, %v; want domain.ErrNotFound", got, err)
	}
}

func sameInstant(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}

func tokenRoundTrip(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	mustCreateToken(t, st, tok)
	// The store must not keep the caller's slice.
	want := tok
	want.Hash = bytes.Clone(tok.Hash)
	tok.Hash[0] ^= 0xff
	mustConsume(t, st, want, base.Add(time.Minute))
}

func tokenConsumeTwice(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeVerifyEmail, base)
	mustCreateToken(t, st, tok)
	mustConsume(t, st, tok, base.Add(time.Second))
	mustNotConsume(t, st, tok.Hash, tok.Purpose, base.Add(2*time.Second))
}

func tokenConsumeUnknown(t *testing.T, st ports.OneTimeTokens) {
	mustNotConsume(t, st, randomBytes(32), domain.PurposeResetPassword, now())
	mustNotConsume(t, st, nil, domain.PurposeResetPassword, now())
}

func tokenExpired(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	mustCreateToken(t, st, tok)
	// Expiry is exclusive: at ExpiresAt the token is already dead.
	mustNotConsume(t, st, tok.Hash, tok.Purpose, tok.ExpiresAt)
	mustNotConsume(t, st, tok.Hash, tok.Purpose, tok.ExpiresAt.Add(time.Hour))

	live := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	mustCreateToken(t, st, live)
	mustConsume(t, st, live, live.ExpiresAt.Add(-time.Millisecond))
}

func tokenWrongPurpose(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeVerifyEmail, base)
	mustCreateToken(t, st, tok)
	mustNotConsume(t, st, tok.Hash, domain.PurposeResetPassword, base.Add(time.Second))
	mustConsume(t, st, tok, base.Add(2*time.Second))
}

func tokenSuperseded(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	user := uuid.NewString()
	first := newToken(user, domain.PurposeResetPassword, base)
	second := newToken(user, domain.PurposeResetPassword, base.Add(time.Second))
	mustCreateToken(t, st, first)
	mustCreateToken(t, st, second)
	mustNotConsume(t, st, first.Hash, first.Purpose, base.Add(2*time.Second))
	mustConsume(t, st, second, base.Add(3*time.Second))
}

// tokenNotSuperseded: a new token supersedes only its own user's tokens of its own purpose.
func tokenNotSuperseded(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	user := uuid.NewString()
	reset := newToken(user, domain.PurposeResetPassword, base)
	verify := newToken(user, domain.PurposeVerifyEmail, base)
	other := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	for _, tok := range []domain.OneTimeToken{reset, verify, other} {
		mustCreateToken(t, st, tok)
	}
	newer := newToken(user, domain.PurposeResetPassword, base.Add(time.Second))
	mustCreateToken(t, st, newer)
	at := base.Add(2 * time.Second)
	mustNotConsume(t, st, reset.Hash, reset.Purpose, at)
	mustConsume(t, st, verify, at)
	mustConsume(t, st, other, at)
	mustConsume(t, st, newer, at)
}

func tokenDeleteByUser(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	user := uuid.NewString()
	reset := newToken(user, domain.PurposeResetPassword, base)
	verify := newToken(user, domain.PurposeVerifyEmail, base)
	other := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	for _, tok := range []domain.OneTimeToken{reset, verify, other} {
		mustCreateToken(t, st, tok)
	}
	if err := st.DeleteByUser(t.Context(), user); err != nil {
		t.Fatalf("DeleteByUser: %v", err)
	}
	at := base.Add(time.Second)
	mustNotConsume(t, st, reset.Hash, reset.Purpose, at)
	mustNotConsume(t, st, verify.Hash, verify.Purpose, at)
	mustConsume(t, st, other, at)
	if err := st.DeleteByUser(t.Context(), uuid.NewString()); err != nil {
		t.Fatalf("DeleteByUser of a user without tokens: %v", err)
	}
}

// tokenConcurrentConsume: of many concurrent consumers of one token (two resets racing, G51),
// exactly one gets it and every other gets domain.ErrNotFound.
func tokenConcurrentConsume(t *testing.T, st ports.OneTimeTokens) {
	const callers = 20
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	mustCreateToken(t, st, tok)
	errs := make([]error, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range errs {
		done.Go(func() {
			start.Wait()
			_, errs[i] = st.Consume(t.Context(), tok.Hash, tok.Purpose, base.Add(time.Second))
		})
	}
	start.Done()
	done.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, domain.ErrNotFound):
			t.Errorf("caller %d: %v, want nil or domain.ErrNotFound", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d callers consumed the token, want exactly 1", winners)
	}
}

// tokenConcurrentCreate: concurrent Creates for one user and purpose (forgot-password sent
// twice at once) all succeed and leave exactly one live token.
func tokenConcurrentCreate(t *testing.T, st ports.OneTimeTokens) {
	const callers = 8
	base := now()
	user := uuid.NewString()
	toks := make([]domain.OneTimeToken, callers)
	errs := make([]error, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range toks {
		toks[i] = newToken(user, domain.PurposeResetPassword, base)
		done.Go(func() {
			start.Wait()
			errs[i] = st.Create(t.Context(), toks[i])
		})
	}
	start.Done()
	done.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, tok := range toks {
		_, err := st.Consume(t.Context(), tok.Hash, tok.Purpose, base.Add(time.Second))
		switch {
		case err == nil:
			live++
		case !errors.Is(err, domain.ErrNotFound):
			t.Fatalf("Consume: %v", err)
		}
	}
	if live != 1 {
		t.Fatalf("%d tokens live after %d concurrent Creates, want 1", live, callers)
	}
}

func tokenContextCancelled(t *testing.T, st ports.OneTimeTokens) {
	base := now()
	tok := newToken(uuid.NewString(), domain.PurposeResetPassword, base)
	mustCreateToken(t, st, tok)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Create": func() error {
			return st.Create(ctx, newToken(uuid.NewString(), domain.PurposeVerifyEmail, base))
		},
		"Consume": func() error {
			_, err := st.Consume(ctx, tok.Hash, tok.Purpose, base.Add(time.Second))
			return err
		},
		"DeleteByUser": func() error { return st.DeleteByUser(ctx, tok.UserID) },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with a cancelled context: no error", name)
		} else if errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s with a cancelled context = %v, want an error that is not ErrNotFound", name, err)
		}
	}
	// Nothing above may have taken effect.
	mustConsume(t, st, tok, base.Add(time.Second))
}
