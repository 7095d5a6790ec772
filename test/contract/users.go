package contract

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// UserStore runs the ports.UserStore contract. open must return a store for each subtest whose
// other content cannot collide with the suite's (it uses fresh UUIDs, emails and usernames),
// and arrange its own cleanup with t.Cleanup. Emails reach the store already normalised (the
// caller runs domain.NormalizeEmail); the store compares them exactly and keeps them unique.
// Update, Delete and lookups of a missing user are domain.ErrNotFound. Times are compared at
// millisecond precision and must come back in UTC. Create stores version 1; Update writes only
// over the version it is given (else domain.ErrStale, nothing written) and stores the next one.
// UpdateUnlessLastAdmin and Delete never take away the only enabled admin, also
// when many run at once (lastadmin.go); open's store must hold no enabled admin of its own.
func UserStore(t *testing.T, open func(t *testing.T) ports.UserStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.UserStore)
	}{
		{"CreateGetRoundTrip", userRoundTrip},
		{"GetMissing", userGetMissing},
		{"OptionalUsername", userOptionalUsername},
		{"DuplicateEmail", userDuplicateEmail},
		{"NormalisedEmailIsOneIdentity", userNormalisedEmail},
		{"DuplicateUsername", userDuplicateUsername},
		{"DuplicateID", userDuplicateID},
		{"Update", userUpdate},
		{"UpdateUnchanged", userUpdateUnchanged},
		{"UpdateMissing", userUpdateMissing},
		{"UpdateConflict", userUpdateConflict},
		{"CreateStoresVersion1", userCreateVersion},
		{"VersionIncrements", userVersionIncrements},
		{"UpdateStale", userUpdateStale},
		{"ConcurrentUpdatesSameVersion", userConcurrentUpdate},
		{"Delete", userDelete},
		{"ConcurrentCreateSameEmail", userConcurrentCreate},
		{"LastAdminStays", userLastAdminStays},
		{"LastAdminStaysConcurrently", userLastAdminConcurrent},
		{"ContextCancelled", userContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// newUser is a fresh, valid user with a unique email and username, created at at. Its Version
// is 1, the version Create stores, so the copy can be passed to Update once created.
func newUser(at time.Time) domain.User {
	id := uuid.NewString()
	return domain.User{
		ID:            id,
		Email:         "u-" + id[:8] + "@example.com",
		EmailVerified: false,
		Username:      "user_" + id[:8],
		Name:          "Zoë Ünïcode-Tester",
		Roles:         []domain.Role{domain.RoleUser},
		PasswordHash:  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		CreatedAt:     at,
		UpdatedAt:     at,
		Version:       1,
	}
}

func mustCreateUser(t *testing.T, st ports.UserStore, u domain.User) {
	t.Helper()
	if err := st.Create(t.Context(), u); err != nil {
		t.Fatalf("Create(%s): %v", u.Email, err)
	}
}

// wantUser fails unless got equals want, comparing times at millisecond precision.
func wantUser(t *testing.T, got, want domain.User) {
	t.Helper()
	sameTime := func(name string, g, w time.Time) {
		if !g.Truncate(time.Millisecond).Equal(w.Truncate(time.Millisecond)) {
			t.Errorf("%s = %v, want %v", name, g, w)
		}
		if !g.IsZero() && g.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, g.Location())
		}
	}
	if got.ID != want.ID || got.Email != want.Email || got.EmailVerified != want.EmailVerified ||
		got.Username != want.Username || got.Name != want.Name || got.PasswordHash != want.PasswordHash ||
		got.Disabled != want.Disabled || !slices.Equal(got.Roles, want.Roles) || got.Version != want.Version {
		t.Errorf("user = %+v\nwant %+v", got, want)
	}
	sameTime("CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s = %v, want %v", what, err, want)
	}
}

func userRoundTrip(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	u.Roles = []domain.Role{domain.RoleUser, domain.RoleModerator, domain.RoleAdmin}
	u.EmailVerified = true
	mustCreateUser(t, st, u)
	lookups := map[string]func() (domain.User, error){
		"ByID":       func() (domain.User, error) { return st.ByID(t.Context(), u.ID) },
		"ByEmail":    func() (domain.User, error) { return st.ByEmail(t.Context(), u.Email) },
		"ByUsername": func() (domain.User, error) { return st.ByUsername(t.Context(), u.Username) },
	}
	for name, get := range lookups {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wantUser(t, got, u)
	}
}

func userGetMissing(t *testing.T, st ports.UserStore) {
	mustCreateUser(t, st, newUser(now()))
	_, err := st.ByID(t.Context(), uuid.NewString())
	wantErr(t, "ByID(missing)", err, domain.ErrNotFound)
	_, err = st.ByEmail(t.Context(), "nobody-"+uuid.NewString()[:8]+"@example.com")
	wantErr(t, "ByEmail(missing)", err, domain.ErrNotFound)
	_, err = st.ByUsername(t.Context(), "nobody_"+uuid.NewString()[:8])
	wantErr(t, "ByUsername(missing)", err, domain.ErrNotFound)
}

func userOptionalUsername(t *testing.T, st ports.UserStore) {
	a, b := newUser(now()), newUser(now())
	a.Username, b.Username = "", ""
	mustCreateUser(t, st, a)
	mustCreateUser(t, st, b) // many users may lack a username
	got, err := st.ByID(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantUser(t, got, b)
	_, err = st.ByUsername(t.Context(), "")
	wantErr(t, `ByUsername("")`, err, domain.ErrNotFound)
}

func userDuplicateEmail(t *testing.T, st ports.UserStore) {
	a := newUser(now())
	mustCreateUser(t, st, a)
	b := newUser(now())
	b.Email = a.Email
	wantErr(t, "Create(same email)", st.Create(t.Context(), b), domain.ErrConflict)
	wantConflictOn(t, "Create(same email)", st.Create(t.Context(), b), "email")
	if _, err := st.ByID(t.Context(), b.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("the losing user was stored: %v", err)
	}
}

// Two spellings of one address normalise to the same email, which the store then refuses twice.
func userNormalisedEmail(t *testing.T, st ports.UserStore) {
	local := "victim-" + uuid.NewString()[:8]
	first, invalid := domain.NormalizeEmail(" " + local + "@X.com ")
	if invalid != nil {
		t.Fatal(invalid)
	}
	second, invalid := domain.NormalizeEmail(local + "@x.COM")
	if invalid != nil {
		t.Fatal(invalid)
	}
	a, b := newUser(now()), newUser(now())
	a.Email, b.Email = first, second
	mustCreateUser(t, st, a)
	wantErr(t, "Create(same normalised email)", st.Create(t.Context(), b), domain.ErrConflict)
	got, err := st.ByEmail(t.Context(), second)
	if err != nil || got.ID != a.ID {
		t.Fatalf("ByEmail(%s) = %v, %v; want user %s", second, got.ID, err, a.ID)
	}
}

func userDuplicateUsername(t *testing.T, st ports.UserStore) {
	a := newUser(now())
	mustCreateUser(t, st, a)
	b := newUser(now())
	b.Username = a.Username
	wantErr(t, "Create(same username)", st.Create(t.Context(), b), domain.ErrConflict)
	wantConflictOn(t, "Create(same username)", st.Create(t.Context(), b), "username")
}

func userDuplicateID(t *testing.T, st ports.UserStore) {
	a := newUser(now())
	mustCreateUser(t, st, a)
	b := newUser(now())
	b.ID = a.ID
	wantErr(t, "Create(same id)", st.Create(t.Context(), b), domain.ErrConflict)
}

func userUpdate(t *testing.T, st ports.UserStore) {
	created := now().Add(-time.Hour)
	u := newUser(created)
	mustCreateUser(t, st, u)
	oldEmail, oldUsername := u.Email, u.Username

	u.Email = "changed-" + u.ID[:8] + "@example.org"
	u.EmailVerified = true
	u.Username = "changed_" + u.ID[:8]
	u.Name = "New Name"
	u.Roles = []domain.Role{domain.RoleUser, domain.RoleAdmin}
	u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g"
	u.Disabled = true
	u.UpdatedAt = now()
	u.CreatedAt = now() // not mutable: the store keeps the original
	stored, err := st.Update(t.Context(), u)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	got, err := st.ByEmail(t.Context(), u.Email)
	if err != nil {
		t.Fatalf("ByEmail(new): %v", err)
	}
	want := u
	want.CreatedAt = created
	want.Version = 2
	wantUser(t, got, want)
	wantUser(t, stored, want) // Update returns the user as stored, with its new version
	if got, err := st.ByUsername(t.Context(), u.Username); err != nil || got.ID != u.ID {
		t.Fatalf("ByUsername(new) = %v, %v", got.ID, err)
	}
	_, err = st.ByEmail(t.Context(), oldEmail)
	wantErr(t, "ByEmail(old)", err, domain.ErrNotFound)
	_, err = st.ByUsername(t.Context(), oldUsername)
	wantErr(t, "ByUsername(old)", err, domain.ErrNotFound)

	// Removing the username frees it for someone else.
	u.Username = ""
	u.Version = got.Version
	if _, err := st.Update(t.Context(), u); err != nil {
		t.Fatalf("Update(no username): %v", err)
	}
	other := newUser(now())
	other.Username = "changed_" + u.ID[:8]
	mustCreateUser(t, st, other)
}

// An update that writes the values already stored still succeeds (MySQL reports such a row as
// unchanged unless told otherwise).
func userUpdateUnchanged(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	mustCreateUser(t, st, u)
	if _, err := st.Update(t.Context(), u); err != nil {
		t.Fatalf("Update(unchanged): %v", err)
	}
}

func userUpdateMissing(t *testing.T, st ports.UserStore) {
	wantErr(t, "Update(missing)", updateErr(t.Context(), st, newUser(now())), domain.ErrNotFound)
}

func userUpdateConflict(t *testing.T, st ports.UserStore) {
	a, b := newUser(now()), newUser(now())
	mustCreateUser(t, st, a)
	mustCreateUser(t, st, b)
	byEmail := b
	byEmail.Email = a.Email
	wantErr(t, "Update(taken email)", updateErr(t.Context(), st, byEmail), domain.ErrConflict)
	wantConflictOn(t, "Update(taken email)", updateErr(t.Context(), st, byEmail), "email")
	byName := b
	byName.Username = a.Username
	wantErr(t, "Update(taken username)", updateErr(t.Context(), st, byName), domain.ErrConflict)
	wantConflictOn(t, "Update(taken username)", updateErr(t.Context(), st, byName), "username")
	got, err := st.ByID(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantUser(t, got, b)
}

func userDelete(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	mustCreateUser(t, st, u)
	if err := st.Delete(t.Context(), u.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := st.ByID(t.Context(), u.ID)
	wantErr(t, "ByID(deleted)", err, domain.ErrNotFound)
	_, err = st.ByEmail(t.Context(), u.Email)
	wantErr(t, "ByEmail(deleted)", err, domain.ErrNotFound)
	wantErr(t, "Delete(again)", st.Delete(t.Context(), u.ID), domain.ErrNotFound)
	// The email and username are free again.
	again := newUser(now())
	again.Email, again.Username = u.Email, u.Username
	mustCreateUser(t, st, again)
}

// Concurrent registrations of one address have exactly one winner (docs/security.md, H57).
func userConcurrentCreate(t *testing.T, st ports.UserStore) {
	const n = 20
	email := "race-" + uuid.NewString()[:8] + "@example.com"
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := newUser(now())
			u.Email = email
			<-start
			errs[i] = st.Create(t.Context(), u)
		})
	}
	close(start)
	wg.Wait()
	var won int
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, domain.ErrConflict):
			t.Errorf("Create: %v, want nil or domain.ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d creates won, want exactly 1", won)
	}
	if _, err := st.ByEmail(t.Context(), email); err != nil {
		t.Fatalf("ByEmail(winner): %v", err)
	}
}

func userContextCancelled(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	mustCreateUser(t, st, u)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func() error{
		"Create": func() error { return st.Create(ctx, newUser(now())) },
		"ByID":   func() error { _, err := st.ByID(ctx, u.ID); return err },
		"ByEmail": func() error {
			_, err := st.ByEmail(ctx, u.Email)
			return err
		},
		"ByUsername": func() error {
			_, err := st.ByUsername(ctx, u.Username)
			return err
		},
		"Update": func() error { return updateErr(ctx, st, u) },
		"Delete": func() error { return st.Delete(ctx, u.ID) },
		"UpdateUnlessLastAdmin": func() error {
			_, err := st.UpdateUnlessLastAdmin(ctx, u)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", name, err)
		}
	}
	if _, err := st.ByID(t.Context(), u.ID); err != nil {
		t.Fatalf("the user changed under a cancelled context: %v", err)
	}
}

// Create stores version 1 whatever the given user says.
func userCreateVersion(t *testing.T, st ports.UserStore) {
	for _, v := range []int64{0, 1, 42} {
		u := newUser(now())
		u.Version = v
		mustCreateUser(t, st, u)
		got, err := st.ByID(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 1 {
			t.Errorf("Create(Version=%d) stored version %d, want 1", v, got.Version)
		}
	}
}

// Every successful Update stores the next version, also one that changes nothing else.
func userVersionIncrements(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	mustCreateUser(t, st, u)
	for want := int64(2); want <= 4; want++ {
		cur, err := st.ByID(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want == 3 {
			cur.Name = "Renamed"
		}
		if _, err := st.Update(t.Context(), cur); err != nil {
			t.Fatalf("Update(version %d): %v", cur.Version, err)
		}
		got, err := st.ByID(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want {
			t.Fatalf("version after Update = %d, want %d", got.Version, want)
		}
		if want >= 3 && got.Name != "Renamed" {
			t.Fatalf("name = %q, want Renamed", got.Name)
		}
	}
}

// A copy read before someone else's Update cannot undo it: writing it is domain.ErrStale (not
// domain.ErrConflict) and nothing is written. The lost-update race of a slow password change
// against an admin's disable.
func userUpdateStale(t *testing.T, st ports.UserStore) {
	u := newUser(now())
	mustCreateUser(t, st, u)
	read := u // read by a slow use case

	disable := u // a concurrent admin disable wins the race
	disable.Disabled = true
	if _, err := st.Update(t.Context(), disable); err != nil {
		t.Fatalf("Update(disable): %v", err)
	}

	read.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g"
	read.Email = "stale-" + u.ID[:8] + "@example.org"
	err := updateErr(t.Context(), st, read)
	wantErr(t, "Update(stale)", err, domain.ErrStale)
	if errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Update(stale) = %v, which must not match ErrConflict or ErrNotFound", err)
	}
	ahead := read
	ahead.Version = 7
	wantErr(t, "Update(version ahead)", updateErr(t.Context(), st, ahead), domain.ErrStale)

	got, err := st.ByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := disable
	want.Version = 2
	wantUser(t, got, want)
	_, err = st.ByEmail(t.Context(), read.Email)
	wantErr(t, "ByEmail(stale email)", err, domain.ErrNotFound)

	// A stale copy of a user deleted since is domain.ErrNotFound.
	if err := st.Delete(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Update(stale, deleted)", updateErr(t.Context(), st, read), domain.ErrNotFound)
}

// Of concurrent Updates from one version, exactly one wins; the others are domain.ErrStale.
func userConcurrentUpdate(t *testing.T, st ports.UserStore) {
	const n = 10
	u := newUser(now())
	mustCreateUser(t, st, u)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := u
			c.Roles = slices.Clone(u.Roles)
			c.Name = fmt.Sprintf("writer %d", i)
			<-start
			errs[i] = updateErr(t.Context(), st, c)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("writers %d and %d both won", winner, i)
			}
			winner = i
		case !errors.Is(err, domain.ErrStale):
			t.Errorf("Update: %v, want nil or domain.ErrStale", err)
		}
	}
	if winner < 0 {
		t.Fatal("no update won")
	}
	got, err := st.ByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Name != fmt.Sprintf("writer %d", winner) {
		t.Fatalf("stored version %d, name %q; want version 2 written by writer %d", got.Version, got.Name, winner)
	}
}

// wantConflictOn checks that err is a *domain.ConflictError naming field, so that clients can
// be told which value is taken.
func wantConflictOn(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ce *domain.ConflictError
	if !errors.As(err, &ce) || ce.Field != field {
		t.Errorf("%s: %v, want a conflict on %s", what, err, field)
	}
}

// updateErr is st.Update for the cases that look at its error only.
func updateErr(ctx context.Context, st ports.UserStore, u domain.User) error {
	_, err := st.Update(ctx, u)
	return err
}
