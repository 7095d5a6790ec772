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

// Passkeys runs the ports.Passkeys contract. open must return a store in which the suite's
// fresh user ids and credential ids are unknown, with its own cleanup.
func Passkeys(t *testing.T, open func(t *testing.T) ports.Passkeys) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.Passkeys)
	}{
		{"AddFindRoundTrip", passkeyRoundTrip},
		{"CredentialIDUnique", passkeyCredentialUnique},
		{"ByUserOldestFirst", passkeyByUser},
		{"UseCounterOnlyForward", passkeyUseForward},
		{"UseWithoutCounter", passkeyUseNoCounter},
		{"ConcurrentUseOneWins", passkeyConcurrentUse},
		{"RenameOwnOnly", passkeyRename},
		{"DeleteOwnOnly", passkeyDelete},
		{"DeleteByUser", passkeyDeleteByUser},
		{"HasAnyOwnOnly", passkeyHasAny},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

func newPasskey(userID string, at time.Time) domain.Passkey {
	return domain.Passkey{ID: uuid.NewString(), UserID: userID, CredentialID: randomBytes(32), Name: "Clé « USB » 🔑",
		SignCount: 7, Credential: append([]byte{0, 0xff}, randomBytes(300)...), CreatedAt: at}
}

func mustAddPasskey(t *testing.T, st ports.Passkeys, p domain.Passkey) domain.Passkey {
	t.Helper()
	if err := st.Add(t.Context(), p); err != nil {
		t.Fatalf("Add: %v", err)
	}
	return p
}

func samePasskey(got, want domain.Passkey) bool {
	return got.ID == want.ID && got.UserID == want.UserID && bytes.Equal(got.CredentialID, want.CredentialID) &&
		got.Name == want.Name && got.SignCount == want.SignCount && bytes.Equal(got.Credential, want.Credential) &&
		got.CreatedAt.Equal(want.CreatedAt.Truncate(time.Millisecond)) && got.CreatedAt.Location() == time.UTC &&
		got.LastUsedAt.Equal(want.LastUsedAt.Truncate(time.Millisecond))
}

func passkeyRoundTrip(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	if _, err := st.ByCredentialID(ctx, randomBytes(32)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ByCredentialID of an unknown credential = %v, want ErrNotFound", err)
	}
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	got, err := st.ByCredentialID(ctx, p.CredentialID)
	if err != nil || !samePasskey(got, p) || !got.LastUsedAt.IsZero() {
		t.Fatalf("ByCredentialID = %+v, %v; want %+v, never used", got, err, p)
	}
	list, err := st.ByUser(ctx, p.UserID)
	if err != nil || len(list) != 1 || !samePasskey(list[0], p) {
		t.Fatalf("ByUser = %+v, %v; want [%+v]", list, err, p)
	}
	if list, err := st.ByUser(ctx, uuid.NewString()); err != nil || len(list) != 0 {
		t.Fatalf("ByUser of a user without passkeys = %+v, %v; want none", list, err)
	}
}

func passkeyCredentialUnique(t *testing.T, st ports.Passkeys) {
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	other := newPasskey(uuid.NewString(), now())
	other.CredentialID = p.CredentialID
	if err := st.Add(t.Context(), other); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Add of a held credential id for another user = %v, want ErrConflict", err)
	}
	sameID := newPasskey(p.UserID, now())
	sameID.ID = p.ID
	if err := st.Add(t.Context(), sameID); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Add of a held id = %v, want ErrConflict", err)
	}
	if list, _ := st.ByUser(t.Context(), other.UserID); len(list) != 0 {
		t.Fatalf("a refused Add stored %+v", list)
	}
}

func passkeyByUser(t *testing.T, st ports.Passkeys) {
	uid, at := uuid.NewString(), now()
	later := mustAddPasskey(t, st, newPasskey(uid, at.Add(time.Minute)))
	first := mustAddPasskey(t, st, newPasskey(uid, at))
	mustAddPasskey(t, st, newPasskey(uuid.NewString(), at))
	list, err := st.ByUser(t.Context(), uid)
	if err != nil || len(list) != 2 || list[0].ID != first.ID || list[1].ID != later.ID {
		t.Fatalf("ByUser = %+v, %v; want %s then %s", list, err, first.ID, later.ID)
	}
}

func passkeyUseForward(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	at := now().Add(time.Minute)
	record := []byte("record after use")
	if err := st.Use(ctx, p.ID, 8, record, at); err != nil {
		t.Fatalf("Use with a higher count: %v", err)
	}
	got, _ := st.ByCredentialID(ctx, p.CredentialID)
	if got.SignCount != 8 || !bytes.Equal(got.Credential, record) || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after Use: %+v", got)
	}
	for _, n := range []uint32{8, 3, 0} { // replayed, cloned, reset
		if err := st.Use(ctx, p.ID, n, []byte("clone"), at.Add(time.Minute)); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("Use with count %d after 8 = %v, want ErrConflict", n, err)
		}
	}
	got, _ = st.ByCredentialID(ctx, p.CredentialID)
	if got.SignCount != 8 || !bytes.Equal(got.Credential, record) || !got.LastUsedAt.Equal(at) {
		t.Fatalf("a refused Use changed the passkey: %+v", got)
	}
	if err := st.Use(ctx, uuid.NewString(), 9, record, at); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Use of an unknown passkey = %v, want ErrNotFound", err)
	}
}

func passkeyUseNoCounter(t *testing.T, st ports.Passkeys) {
	p := newPasskey(uuid.NewString(), now())
	p.SignCount = 0
	mustAddPasskey(t, st, p)
	at := now()
	for i := range 2 { // an authenticator without a counter sends 0 each time, even at one instant
		if err := st.Use(t.Context(), p.ID, 0, p.Credential, at); err != nil {
			t.Fatalf("Use %d with count 0 after 0: %v", i, err)
		}
	}
	if err := st.Use(t.Context(), p.ID, 1, p.Credential, at); err != nil {
		t.Fatalf("Use with count 1 after 0: %v", err)
	}
	if err := st.Use(t.Context(), p.ID, 0, p.Credential, at); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Use with count 0 after 1 = %v, want ErrConflict", err)
	}
}

func passkeyConcurrentUse(t *testing.T, st ports.Passkeys) {
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for range 16 {
		wg.Go(func() {
			err := st.Use(context.Background(), p.ID, 8, p.Credential, now())
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, domain.ErrConflict) {
				t.Errorf("Use: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent Uses of one count succeeded, want 1", ok.Load())
	}
}

func passkeyRename(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	got, err := st.Rename(ctx, p.UserID, p.ID, "Phone")
	if err != nil || got.Name != "Phone" || got.ID != p.ID {
		t.Fatalf("Rename = %+v, %v", got, err)
	}
	if got, err := st.Rename(ctx, p.UserID, p.ID, "Phone"); err != nil || got.Name != "Phone" {
		t.Fatalf("Rename to the same name = %+v, %v", got, err)
	}
	if _, err := st.Rename(ctx, uuid.NewString(), p.ID, "Mine now"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Rename of another user's passkey = %v, want ErrNotFound", err)
	}
	if _, err := st.Rename(ctx, p.UserID, uuid.NewString(), "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Rename of an unknown passkey = %v, want ErrNotFound", err)
	}
	stored, _ := st.ByCredentialID(ctx, p.CredentialID)
	if stored.Name != "Phone" {
		t.Fatalf("name after a refused rename = %q", stored.Name)
	}
}

func passkeyDelete(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	p := mustAddPasskey(t, st, newPasskey(uuid.NewString(), now()))
	if err := st.Delete(ctx, uuid.NewString(), p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Delete of another user's passkey = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, p.UserID, p.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, p.UserID, p.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := st.ByCredentialID(ctx, p.CredentialID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("ByCredentialID after Delete = %v, want ErrNotFound", err)
	}
	// Its credential id is free again.
	mustAddPasskey(t, st, p)
}

func passkeyDeleteByUser(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	uid, other := uuid.NewString(), uuid.NewString()
	mustAddPasskey(t, st, newPasskey(uid, now()))
	mustAddPasskey(t, st, newPasskey(uid, now()))
	kept := mustAddPasskey(t, st, newPasskey(other, now()))
	if err := st.DeleteByUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteByUser(ctx, uid); err != nil {
		t.Fatalf("DeleteByUser with nothing left: %v", err)
	}
	if list, _ := st.ByUser(ctx, uid); len(list) != 0 {
		t.Fatalf("passkeys left: %+v", list)
	}
	if _, err := st.ByCredentialID(ctx, kept.CredentialID); err != nil {
		t.Fatalf("another user's passkey went too: %v", err)
	}
}

// HasAny is true while the user has a passkey (one or more), and only for that user.
func passkeyHasAny(t *testing.T, st ports.Passkeys) {
	ctx := t.Context()
	uid, other := uuid.NewString(), uuid.NewString()
	has := func(who string, want bool) {
		t.Helper()
		if got, err := st.HasAny(ctx, who); err != nil || got != want {
			t.Fatalf("HasAny = %v, %v; want %v", got, err, want)
		}
	}
	has(uid, false)
	first := mustAddPasskey(t, st, newPasskey(uid, now()))
	has(uid, true)
	has(other, false)
	second := mustAddPasskey(t, st, newPasskey(uid, now()))
	has(uid, true)
	if err := st.Delete(ctx, uid, first.ID); err != nil {
		t.Fatal(err)
	}
	has(uid, true)
	if err := st.Delete(ctx, uid, second.ID); err != nil {
		t.Fatal(err)
	}
	has(uid, false)
	mustAddPasskey(t, st, newPasskey(uid, now()))
	if err := st.DeleteByUser(ctx, uid); err != nil {
		t.Fatal(err)
	}
	has(uid, false)
}
