package contract

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// KeyStore runs the ports.KeyStore contract. open must return an empty store for each subtest
// and arrange its own cleanup with t.Cleanup. Keys come back newest first, private material
// byte for byte as given; a taken id is domain.ErrConflict; retiring or deleting a missing key
// is domain.ErrNotFound. Times are compared at millisecond precision and must come back in UTC.
func KeyStore(t *testing.T, open func(t *testing.T) ports.KeyStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.KeyStore)
	}{
		{"Empty", keyEmpty},
		{"AddListNewestFirst", keyAddList},
		{"DuplicateID", keyDuplicateID},
		{"Retire", keyRetire},
		{"RetireMissing", keyRetireMissing},
		{"Delete", keyDelete},
		{"ContextCancelled", keyContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// newKey is a fresh key with sealed-looking private bytes (including a zero byte), created at at.
func newKey(alg string, at time.Time) domain.SigningKey {
	private := append([]byte{0, 1, 2, 0xff}, randomBytes(120)...)
	return domain.SigningKey{ID: uuid.NewString(), Algorithm: alg, Private: private, CreatedAt: at}
}

func mustAddKey(t *testing.T, st ports.KeyStore, k domain.SigningKey) {
	t.Helper()
	if err := st.Add(t.Context(), k); err != nil {
		t.Fatalf("Add(%s): %v", k.ID, err)
	}
}

func mustKeys(t *testing.T, st ports.KeyStore) []domain.SigningKey {
	t.Helper()
	keys, err := st.Keys(t.Context())
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	return keys
}

func wantKey(t *testing.T, got, want domain.SigningKey) {
	t.Helper()
	if got.ID != want.ID || got.Algorithm != want.Algorithm || !bytes.Equal(got.Private, want.Private) {
		t.Errorf("key = %s %s %x\nwant %s %s %x", got.ID, got.Algorithm, got.Private, want.ID, want.Algorithm, want.Private)
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"RetiredAt", got.RetiredAt, want.RetiredAt}} {
		if !tm.got.Truncate(time.Millisecond).Equal(tm.want.Truncate(time.Millisecond)) {
			t.Errorf("%s = %v, want %v", tm.name, tm.got, tm.want)
		}
		if !tm.got.IsZero() && tm.got.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", tm.name, tm.got.Location())
		}
	}
}

func keyEmpty(t *testing.T, st ports.KeyStore) {
	if keys := mustKeys(t, st); len(keys) != 0 {
		t.Fatalf("Keys = %d keys, want none", len(keys))
	}
}

func keyAddList(t *testing.T, st ports.KeyStore) {
	base := now()
	oldest, middle, newest := newKey("EdDSA", base.Add(-2*time.Hour)), newKey("ES256", base.Add(-time.Hour)), newKey("EdDSA", base)
	for _, k := range []domain.SigningKey{middle, newest, oldest} {
		mustAddKey(t, st, k)
	}
	keys := mustKeys(t, st)
	if len(keys) != 3 {
		t.Fatalf("Keys = %d keys, want 3", len(keys))
	}
	for i, want := range []domain.SigningKey{newest, middle, oldest} {
		wantKey(t, keys[i], want)
	}
}

func keyDuplicateID(t *testing.T, st ports.KeyStore) {
	k := newKey("EdDSA", now())
	mustAddKey(t, st, k)
	dup := newKey("ES256", now())
	dup.ID = k.ID
	wantErr(t, "Add(same id)", st.Add(t.Context(), dup), domain.ErrConflict)
	keys := mustKeys(t, st)
	if len(keys) != 1 {
		t.Fatalf("Keys = %d keys, want 1", len(keys))
	}
	wantKey(t, keys[0], k)
}

func keyRetire(t *testing.T, st ports.KeyStore) {
	base := now()
	old, active := newKey("EdDSA", base.Add(-time.Hour)), newKey("EdDSA", base)
	mustAddKey(t, st, old)
	mustAddKey(t, st, active)
	at := base.Add(time.Minute)
	if err := st.Retire(t.Context(), old.ID, at); err != nil {
		t.Fatalf("Retire: %v", err)
	}
	keys := mustKeys(t, st)
	if len(keys) != 2 {
		t.Fatalf("Keys = %d keys, want 2", len(keys))
	}
	wantKey(t, keys[0], active) // still active: RetiredAt zero
	old.RetiredAt = at
	wantKey(t, keys[1], old)
}

func keyRetireMissing(t *testing.T, st ports.KeyStore) {
	wantErr(t, "Retire(missing)", st.Retire(t.Context(), uuid.NewString(), now()), domain.ErrNotFound)
}

func keyDelete(t *testing.T, st ports.KeyStore) {
	gone, kept := newKey("EdDSA", now().Add(-time.Hour)), newKey("EdDSA", now())
	mustAddKey(t, st, gone)
	mustAddKey(t, st, kept)
	if err := st.Delete(t.Context(), gone.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	keys := mustKeys(t, st)
	if len(keys) != 1 || keys[0].ID != kept.ID {
		t.Fatalf("Keys after Delete = %v", keys)
	}
	wantErr(t, "Delete(again)", st.Delete(t.Context(), gone.ID), domain.ErrNotFound)
}

func keyContextCancelled(t *testing.T, st ports.KeyStore) {
	k := newKey("EdDSA", now())
	mustAddKey(t, st, k)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Keys":   func() error { _, err := st.Keys(ctx); return err },
		"Add":    func() error { return st.Add(ctx, newKey("EdDSA", now())) },
		"Retire": func() error { return st.Retire(ctx, k.ID, now()) },
		"Delete": func() error { return st.Delete(ctx, k.ID) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	if keys := mustKeys(t, st); len(keys) != 1 || !keys[0].RetiredAt.IsZero() {
		t.Fatalf("keys changed under a cancelled context: %v", keys)
	}
}
