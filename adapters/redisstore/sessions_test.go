package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func openTest(t *testing.T) (*Sessions, redis.UniversalClient) { return openBench(t) }

func openBench(t testing.TB) (*Sessions, redis.UniversalClient) {
	t.Helper()
	c, err := Open(t.Context(), testenv.RedisURL(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	st, err := NewSessions(c, testenv.RedisPrefix(t))
	if err != nil {
		t.Fatal(err)
	}
	return st, c
}

// TestExpiry checks what the contract cannot see: the keys' own expiry.
func TestExpiry(t *testing.T) {
	st, c := openTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := domain.Session{ID: uuid.NewString(), UserID: uuid.NewString(), RefreshHash: []byte("current"),
		CreatedAt: now, LastUsedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(3 * time.Hour)}
	if err := st.Create(ctx, s, now); err != nil {
		t.Fatal(err)
	}
	expireAt := func(key string) time.Time {
		t.Helper()
		ms, err := c.Do(ctx, "PEXPIRETIME", key).Int64()
		if err != nil || ms < 0 {
			t.Fatalf("PEXPIRETIME %s = %d, %v", key, ms, err)
		}
		return time.UnixMilli(ms).UTC()
	}
	if got := expireAt(st.keys.session(s.ID)); !got.Equal(s.IdleExpiresAt) {
		t.Fatalf("session expires at %v, want the idle limit %v", got, s.IdleExpiresAt)
	}
	if got := expireAt(st.keys.userSessions(s.UserID)); !got.Equal(s.AbsExpiresAt) {
		t.Fatalf("index expires at %v, want the absolute limit %v", got, s.AbsExpiresAt)
	}
	r := domain.Rotation{SessionID: s.ID, PresentedHash: s.RefreshHash, NewHash: []byte("next"),
		Now: now.Add(time.Minute), IdleTTL: 2 * time.Hour, Grace: time.Second}
	if _, _, err := st.Rotate(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := expireAt(st.keys.session(s.ID)); !got.Equal(r.Now.Add(2 * time.Hour)) {
		t.Fatalf("after rotation the session expires at %v, want %v", got, r.Now.Add(2*time.Hour))
	}
	r = domain.Rotation{SessionID: s.ID, PresentedHash: r.NewHash, NewHash: []byte("third"),
		Now: now.Add(2 * time.Minute), IdleTTL: 24 * time.Hour, Grace: time.Second}
	if _, _, err := st.Rotate(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := expireAt(st.keys.session(s.ID)); !got.Equal(s.AbsExpiresAt) {
		t.Fatalf("capped rotation: session expires at %v, want the absolute limit %v", got, s.AbsExpiresAt)
	}

	// Deleting removes the index entry too, and SetRoles does not resurrect the hash.
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRoles(ctx, s.UserID, []domain.Role{domain.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, st.keys.session(s.ID), st.keys.userSessions(s.UserID)).Result(); err != nil || n != 0 {
		t.Fatalf("after delete %d keys remain (%v)", n, err)
	}
}

func TestUnavailable(t *testing.T) {
	c, err := NewClient("redis://127.0.0.1:1/0", Options{DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _ := NewSessions(c, "")
	if _, err := st.Get(t.Context(), "x", time.Now()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Get on a dead Redis = %v, want ErrUnavailable", err)
	}
	if _, _, err := st.Rotate(t.Context(), domain.Rotation{SessionID: "x"}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Rotate on a dead Redis = %v, want ErrUnavailable", err)
	}
	if _, err := Open(t.Context(), "redis://127.0.0.1:1/0", Options{DialTimeout: 200 * time.Millisecond, MaxRetries: -1}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Open on a dead Redis = %v, want ErrUnavailable", err)
	}
}
