package memstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/domain"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func TestSessionsCopiesSlices(t *testing.T) {
	st := memstore.NewSessions()
	now := time.Now()
	s := domain.Session{ID: "s1", UserID: "u1", Roles: []domain.Role{domain.RoleUser}, RefreshHash: []byte{1, 2},
		CreatedAt: now, IdleExpiresAt: now.Add(time.Hour), AbsExpiresAt: now.Add(2 * time.Hour)}
	if err := st.Create(t.Context(), s, now); err != nil {
		t.Fatal(err)
	}
	s.Roles[0], s.RefreshHash[0] = domain.RoleAdmin, 9
	got, err := st.Get(t.Context(), "s1", now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Roles[0] != domain.RoleUser || got.RefreshHash[0] != 1 {
		t.Fatalf("store shares the caller's slices: %v %v", got.Roles, got.RefreshHash)
	}
	got.Roles[0] = domain.RoleAdmin
	if again, _ := st.Get(t.Context(), "s1", now); again.Roles[0] != domain.RoleUser {
		t.Fatal("store shares its slices with the caller")
	}
	if err := st.Create(t.Context(), s, now); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Create of a live duplicate = %v, want ErrConflict", err)
	}
}

func TestSessionsClock(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := memstore.NewSessions()
	s := domain.Session{ID: "s1", UserID: "u1", CreatedAt: clock.t,
		IdleExpiresAt: clock.t.Add(time.Hour), AbsExpiresAt: clock.t.Add(2 * time.Hour)}
	if err := st.Create(t.Context(), s, clock.t); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(t.Context(), "s1", clock.t); err != nil {
		t.Fatalf("Get before idle: %v", err)
	}
	clock.t = clock.t.Add(time.Hour)
	if _, err := st.Get(t.Context(), "s1", clock.t); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get at idle = %v, want ErrNotFound", err)
	}
	if n, err := st.DeleteByUser(t.Context(), "u1", clock.t); err != nil || n != 0 {
		t.Fatalf("DeleteByUser of an expired session = %d, %v; want 0", n, err)
	}
	// An expired ID may be created again.
	s.IdleExpiresAt = clock.t.Add(time.Hour)
	if err := st.Create(t.Context(), s, clock.t); err != nil {
		t.Fatalf("Create over an expired session: %v", err)
	}
}

func TestUsers(t *testing.T) {
	st := memstore.NewUsers()
	ctx := t.Context()
	a := domain.User{ID: "a", Email: "a@example.com", Username: "alice", Roles: []domain.Role{domain.RoleUser}}
	b := domain.User{ID: "b", Email: "b@example.com"}
	for _, u := range []domain.User{a, b} {
		if err := st.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	conflicts := map[string]domain.User{
		"same id":       {ID: "a", Email: "c@example.com"},
		"same email":    {ID: "c", Email: "a@example.com"},
		"same username": {ID: "c", Email: "c@example.com", Username: "alice"},
	}
	for name, u := range conflicts {
		if err := st.Create(ctx, u); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("Create %s = %v, want ErrConflict", name, err)
		}
	}
	a.Version, b.Version = 1, 1 // what Create stored
	b.Username = "alice"
	if _, err := st.Update(ctx, b); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("Update to a taken username = %v, want ErrConflict", err)
	}
	a.Email, a.Username = "new@example.com", ""
	if _, err := st.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ByEmail(ctx, "a@example.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("old email still found: %v", err)
	}
	if _, err := st.ByUsername(ctx, "alice"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("old username still found: %v", err)
	}
	got, err := st.ByEmail(ctx, "new@example.com")
	if err != nil || got.ID != "a" {
		t.Fatalf("ByEmail = %v, %v", got, err)
	}
	got.Roles[0] = domain.RoleAdmin
	if again, _ := st.ByID(ctx, "a"); again.Roles[0] != domain.RoleUser {
		t.Error("role slice shared with the caller")
	}
	if err := st.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"ByID":   func() error { _, err := st.ByID(ctx, "a"); return err }(),
		"Update": func() error { _, err := st.Update(ctx, a); return err }(),
		"Delete": st.Delete(ctx, "a"),
	} {
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s of a deleted user = %v, want ErrNotFound", name, err)
		}
	}
}

func TestKeys(t *testing.T) {
	st := memstore.NewKeys()
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"k1", "k2", "k3"} {
		if err := st.Add(ctx, domain.SigningKey{ID: id, Algorithm: "EdDSA", Private: []byte{byte(i)}, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Add(ctx, domain.SigningKey{ID: "k1"}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("Add duplicate = %v, want ErrConflict", err)
	}
	if err := st.Retire(ctx, "k1", t0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	keys, err := st.Keys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "k3" || keys[1].ID != "k1" || keys[1].RetiredAt.IsZero() {
		t.Fatalf("Keys = %+v, %v", keys, err)
	}
	keys[0].Private[0] = 42
	if again, _ := st.Keys(ctx); again[0].Private[0] != 2 {
		t.Error("private key bytes shared with the caller")
	}
	if err := st.Retire(ctx, "k2", t0); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Retire missing = %v, want ErrNotFound", err)
	}
}
