package contract

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// The last-admin part of the ports.UserStore contract: UpdateUnlessLastAdmin and Delete never
// take away the only enabled admin, however many of them run at once (README "Administration":
// the last admin stays).

// newAdmin is newUser holding the admin role, enabled.
func newAdmin() domain.User {
	u := newUser(now())
	u.Roles = []domain.Role{domain.RoleUser, domain.RoleAdmin}
	return u
}

// One at a time: the only enabled admin cannot be disabled, demoted or deleted, and nothing is
// written; a disabled admin does not count; changes that keep an admin, or concern another
// user, are plain Updates and Deletes; a stale or missing user is what Update says it is.
func userLastAdminStays(t *testing.T, st ports.UserStore) {
	ctx := t.Context()
	admin := newAdmin()
	mustCreateUser(t, st, admin)
	idle := newAdmin() // an admin, but disabled
	idle.Disabled = true
	mustCreateUser(t, st, idle)

	disabled, demoted := admin, admin
	disabled.Disabled = true
	demoted.Roles = []domain.Role{domain.RoleUser, domain.RoleModerator}
	for name, u := range map[string]domain.User{"disable": disabled, "demote": demoted} {
		_, err := st.UpdateUnlessLastAdmin(ctx, u)
		wantErr(t, "UpdateUnlessLastAdmin("+name+" the only admin)", err, domain.ErrLastAdmin)
	}
	wantErr(t, "Delete(the only admin)", st.Delete(ctx, admin.ID), domain.ErrLastAdmin)
	got, err := st.ByID(ctx, admin.ID)
	if err != nil {
		t.Fatalf("the refused admin: %v", err)
	}
	wantUser(t, got, admin) // nothing written, version 1

	// A change that leaves the admin an enabled admin is an Update.
	renamed := admin
	renamed.Name = "Still Admin"
	got, err = st.UpdateUnlessLastAdmin(ctx, renamed)
	if err != nil {
		t.Fatalf("UpdateUnlessLastAdmin(rename the only admin): %v", err)
	}
	renamed.Version = 2
	wantUser(t, got, renamed)

	// A stale copy is domain.ErrStale, even one that would take the last admin away; a missing
	// user is domain.ErrNotFound.
	_, err = st.UpdateUnlessLastAdmin(ctx, disabled)
	wantErr(t, "UpdateUnlessLastAdmin(stale)", err, domain.ErrStale)
	missing := newAdmin()
	missing.Disabled = true
	_, err = st.UpdateUnlessLastAdmin(ctx, missing)
	wantErr(t, "UpdateUnlessLastAdmin(missing)", err, domain.ErrNotFound)
	wantErr(t, "Delete(missing)", st.Delete(ctx, missing.ID), domain.ErrNotFound)

	// Users who are not enabled admins change and go freely.
	plain := newUser(now())
	mustCreateUser(t, st, plain)
	plain.Disabled = true
	if _, err := st.UpdateUnlessLastAdmin(ctx, plain); err != nil {
		t.Fatalf("UpdateUnlessLastAdmin(disable a plain user): %v", err)
	}
	if err := st.Delete(ctx, plain.ID); err != nil {
		t.Fatalf("Delete(a plain user): %v", err)
	}
	if err := st.Delete(ctx, idle.ID); err != nil {
		t.Fatalf("Delete(a disabled admin): %v", err)
	}

	// With a second enabled admin the first may go, and then the second is the last.
	second := newAdmin()
	mustCreateUser(t, st, second)
	disabled = renamed
	disabled.Disabled = true
	if _, err := st.UpdateUnlessLastAdmin(ctx, disabled); err != nil {
		t.Fatalf("UpdateUnlessLastAdmin(disable one of two admins): %v", err)
	}
	wantErr(t, "Delete(the admin left)", st.Delete(ctx, second.ID), domain.ErrLastAdmin)
	if _, err := st.ByID(ctx, second.ID); err != nil {
		t.Fatalf("the admin left: %v", err)
	}
}

// Many admins take themselves or one another away at once, by every kind of change: exactly one
// enabled admin remains each time, every change but the refused ones is done, and the refusals
// are domain.ErrLastAdmin. Each scenario runs several rounds, since the interleavings vary.
func userLastAdminConcurrent(t *testing.T, st ports.UserStore) {
	const admins, rounds = 6, 3
	type change func(u *domain.User) (remove bool)
	disable := func(u *domain.User) bool { u.Disabled = true; return false }
	demote := func(u *domain.User) bool { u.Roles = []domain.Role{domain.RoleUser}; return false }
	remove := func(*domain.User) bool { return true }
	kinds := []change{disable, demote, remove}
	// A scenario gives the changes of one round: changes[i] is made to admin targets[i].
	scenarios := []struct {
		name    string
		targets func(i int) int
		changes func(i int) change
		callers int
	}{
		{"DisableThemselves", func(i int) int { return i }, func(int) change { return disable }, admins},
		{"DemoteThemselves", func(i int) int { return i }, func(int) change { return demote }, admins},
		{"DeleteThemselves", func(i int) int { return i }, func(int) change { return remove }, admins},
		{"EachOtherMixed", func(i int) int { return (i + 1) % admins }, func(i int) change { return kinds[i%3] }, admins},
		{"TwoChangesEach", func(i int) int { return i % admins }, func(i int) change { return kinds[(i+i/admins)%3] }, 2 * admins},
	}
	var survivors []string // enabled admins left by the rounds before, taken away before the next
	for _, sc := range scenarios {
		for round := range rounds {
			ids := make([]string, admins)
			for i := range ids {
				u := newAdmin()
				mustCreateUser(t, st, u)
				ids[i] = u.ID
			}
			for _, id := range survivors {
				if err := st.Delete(t.Context(), id); err != nil {
					t.Fatalf("delete the survivor of the last round: %v", err)
				}
			}
			errs := make([]error, sc.callers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range sc.callers {
				wg.Go(func() {
					<-start
					errs[i] = takeAway(t, st, ids[sc.targets(i)], sc.changes(i))
				})
			}
			close(start)
			wg.Wait()
			survivors = survivors[:0]
			for _, id := range ids {
				u, err := st.ByID(t.Context(), id)
				switch {
				case errors.Is(err, domain.ErrNotFound):
				case err != nil:
					t.Fatal(err)
				case u.ActiveAdmin():
					survivors = append(survivors, id)
				}
			}
			what := fmt.Sprintf("%s, round %d", sc.name, round+1)
			if len(survivors) != 1 {
				t.Fatalf("%s: %d enabled admins left, want exactly 1 (errors %v)", what, len(survivors), errs)
			}
			refused := 0
			for _, err := range errs {
				switch {
				case errors.Is(err, domain.ErrLastAdmin):
					refused++
				case err != nil:
					t.Errorf("%s: %v, want nil or domain.ErrLastAdmin", what, err)
				}
			}
			// The survivor's every change was refused; with one change an admin, only those.
			if refused == 0 || (sc.callers == admins && refused != 1) {
				t.Errorf("%s: %d changes refused, want 1 (or more with two changes an admin)", what, refused)
			}
		}
	}
}

// takeAway makes change to user id through UpdateUnlessLastAdmin, or removes the user through
// Delete when change says so. Like the use cases, it reads the user afresh after
// domain.ErrStale and tries again; a user deleted meanwhile is done with.
func takeAway(t *testing.T, st ports.UserStore, id string, change func(u *domain.User) (remove bool)) error {
	for range 50 {
		u, err := st.ByID(t.Context(), id)
		if errors.Is(err, domain.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if change(&u) {
			err = st.Delete(t.Context(), id)
		} else {
			_, err = st.UpdateUnlessLastAdmin(t.Context(), u)
		}
		switch {
		case errors.Is(err, domain.ErrNotFound):
			return nil
		case !errors.Is(err, domain.ErrStale):
			return err
		}
	}
	return fmt.Errorf("user %s: stale 50 times", id)
}
