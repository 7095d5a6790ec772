package application_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/password"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// hookHasher runs afterVerify once a Verify is done and beforeHash before each Hash: the slow
// hashing windows in which another request changes the user. failHash makes the first n Hash
// calls fail. It records the hashes Verify was given.
type hookHasher struct {
	ports.PasswordHasher
	mu          sync.Mutex
	afterVerify func()
	beforeHash  func()
	failHash    int
	hashCalls   int
	verified    []string
}

func (h *hookHasher) Verify(ctx context.Context, hash, pw string) (bool, bool, error) {
	h.mu.Lock()
	h.verified = append(h.verified, hash)
	hook := h.afterVerify
	h.afterVerify = nil // once
	h.mu.Unlock()
	ok, rehash, err := h.PasswordHasher.Verify(ctx, hash, pw)
	if hook != nil {
		hook()
	}
	return ok, rehash, err
}

func (h *hookHasher) Hash(ctx context.Context, pw string) (string, error) {
	h.mu.Lock()
	h.hashCalls++
	hook := h.beforeHash
	h.beforeHash = nil // once
	fail := h.failHash > 0
	if fail {
		h.failHash--
	}
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	if fail {
		return "", errors.New("hasher failed")
	}
	return h.PasswordHasher.Hash(ctx, pw)
}

// racyUsers runs beforeUpdate (once) just before the first Update reaches the store, and
// counts Updates; alwaysStale makes every Update lose the race.
type racyUsers struct {
	ports.UserStore
	mu           sync.Mutex
	beforeUpdate func()
	alwaysStale  bool
	updates      int
}

func (r *racyUsers) Update(ctx context.Context, u domain.User) (domain.User, error) {
	r.mu.Lock()
	r.updates++
	hook := r.beforeUpdate
	r.beforeUpdate = nil
	stale := r.alwaysStale
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	if stale {
		return domain.User{}, domain.ErrStale
	}
	return r.UserStore.Update(ctx, u)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustUser(t *testing.T, w *world, email string) domain.User {
	t.Helper()
	u, err := w.users.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func disable(t *testing.T, w *world, id string) {
	t.Helper()
	yes := true
	if _, err := w.admin.Update(context.Background(), application.Operator, id, application.AdminUpdateInput{Disabled: &yes}); err != nil {
		t.Errorf("concurrent disable: %v", err)
	}
}

func rename(t *testing.T, w *world, id, name string) {
	t.Helper()
	if _, err := w.profile.Update(context.Background(), id, application.UpdateProfileInput{Name: &name}); err != nil {
		t.Errorf("concurrent rename: %v", err)
	}
}

// Review finding A: an administrator disables the account while a password change is hashing.
// The change must not write its stale copy back (re-enabling the account).
func TestA_DisableDuringPasswordChangeIsNotUndone(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cur := w.registerAndLogin(t, "race@x.com")
	before := mustUser(t, w, "race@x.com")
	h := &hookHasher{PasswordHasher: w.hasher}
	h.beforeHash = func() { disable(t, w, before.ID) } // while the new password is hashed
	change := application.NewChangePassword(w.users, w.sessions, h, w.clock, nil, nil, nil, nil, discard())
	err := change.Handle(ctx, application.ChangePasswordInput{UserID: before.ID, SessionID: cur.SessionID,
		CurrentPassword: goodPassword, NewPassword: "another good passphrase"})
	if !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("password change of an account disabled meanwhile = %v, want ErrUnauthenticated", err)
	}
	after := mustUser(t, w, "race@x.com")
	if !after.Disabled {
		t.Fatal("the password change re-enabled a disabled account")
	}
	if after.PasswordHash != before.PasswordHash {
		t.Fatal("the password of an account disabled meanwhile was changed")
	}
}

// A concurrent harmless change (a rename) makes the password change run again on the new
// state: both changes survive.
func TestA_PasswordChangeRetriesOverAConcurrentChange(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cur := w.registerAndLogin(t, "retry@x.com")
	u := mustUser(t, w, "retry@x.com")
	h := &hookHasher{PasswordHasher: w.hasher}
	h.beforeHash = func() { rename(t, w, u.ID, "Renamed Meanwhile") }
	change := application.NewChangePassword(w.users, w.sessions, h, w.clock, nil, nil, nil, nil, discard())
	if err := change.Handle(ctx, application.ChangePasswordInput{UserID: u.ID, SessionID: cur.SessionID,
		CurrentPassword: goodPassword, NewPassword: "another good passphrase"}); err != nil {
		t.Fatalf("password change: %v", err)
	}
	after := mustUser(t, w, "retry@x.com")
	if after.Name != "Renamed Meanwhile" || after.Version != u.Version+2 {
		t.Fatalf("after = name %q version %d; want the rename kept and two updates", after.Name, after.Version)
	}
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "retry@x.com", Password: "another good passphrase"}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
}

// Admin and profile updates re-apply themselves over a concurrent change instead of undoing it.
func TestA_AdminAndProfileUpdatesKeepConcurrentChanges(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "both@x.com")
	u := mustUser(t, w, "both@x.com")

	racy := &racyUsers{UserStore: w.users}
	racy.beforeUpdate = func() { disable(t, w, u.ID) }
	admin := application.NewAdmin(racy, w.users, w.sessions, w.register, nil, w.clock, nil, discard())
	verified := true
	out, err := admin.Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{EmailVerified: &verified})
	if err != nil {
		t.Fatalf("admin update: %v", err)
	}
	after := mustUser(t, w, "both@x.com")
	if !after.Disabled || !after.EmailVerified || racy.updates != 2 || out.User.Version != after.Version {
		t.Fatalf("after admin update: disabled %v verified %v, %d updates, returned version %d of %d",
			after.Disabled, after.EmailVerified, racy.updates, out.User.Version, after.Version)
	}

	// Re-enable, then race a rename against a username change.
	no := false
	if _, err := w.admin.Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	racy = &racyUsers{UserStore: w.users}
	racy.beforeUpdate = func() { rename(t, w, u.ID, "Concurrent") }
	username := "both_user"
	pout, err := application.NewProfile(racy, identity.New(), w.clock).Update(ctx, u.ID, application.UpdateProfileInput{Username: &username})
	if err != nil {
		t.Fatalf("profile update: %v", err)
	}
	after = mustUser(t, w, "both@x.com")
	if after.Name != "Concurrent" || after.Username != "both_user" || pout.User.Version != after.Version {
		t.Fatalf("after profile update: %+v (returned version %d)", after, pout.User.Version)
	}
}

// After staleAttempts lost races the use cases give up with domain.ErrStale, writing nothing.
func TestA_GiveUpAfterThreeStaleAttempts(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cur := w.registerAndLogin(t, "busy@x.com")
	u := mustUser(t, w, "busy@x.com")
	name := "Never"
	calls := map[string]func(ports.UserStore) error{
		"Profile.Update": func(st ports.UserStore) error {
			_, err := application.NewProfile(st, identity.New(), w.clock).Update(ctx, u.ID, application.UpdateProfileInput{Name: &name})
			return err
		},
		"Admin.Update": func(st ports.UserStore) error {
			_, err := application.NewAdmin(st, w.users, w.sessions, w.register, nil, w.clock, nil, discard()).
				Update(ctx, application.Operator, u.ID, application.AdminUpdateInput{Name: &name})
			return err
		},
		"ChangePassword": func(st ports.UserStore) error {
			return application.NewChangePassword(st, w.sessions, w.hasher, w.clock, nil, nil, nil, nil, discard()).Handle(ctx,
				application.ChangePasswordInput{UserID: u.ID, SessionID: cur.SessionID, CurrentPassword: goodPassword,
					NewPassword: "another good passphrase"})
		},
	}
	for what, call := range calls {
		racy := &racyUsers{UserStore: w.users, alwaysStale: true}
		if err := call(racy); !errors.Is(err, domain.ErrStale) || racy.updates != 3 {
			t.Errorf("%s = %v after %d updates; want domain.ErrStale after 3", what, err, racy.updates)
		}
	}
	if after := mustUser(t, w, "busy@x.com"); after.Version != u.Version {
		t.Fatalf("something was written: %+v", after)
	}
}

// A login's rehash that loses a race is skipped: the login succeeds and the concurrent change
// stays.
func TestA_LoginRehashSkippedOnStale(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "rehash@x.com")
	u := mustUser(t, w, "rehash@x.com")
	stronger, err := password.New(password.Params{Memory: 24576, Time: 3})
	if err != nil {
		t.Fatal(err)
	}
	racy := &racyUsers{UserStore: w.users}
	racy.beforeUpdate = func() { rename(t, w, u.ID, "Meanwhile") }
	login := application.NewLogin(racy, identity.New(), w.sessions, stronger, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, discard())
	out, err := login.Handle(ctx, application.LoginInput{Identifier: "rehash@x.com", Password: goodPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	after := mustUser(t, w, "rehash@x.com")
	if after.Name != "Meanwhile" || after.PasswordHash != u.PasswordHash || out.User.Name != "Meanwhile" {
		t.Fatalf("after = %+v; want the rename kept and the old hash", after)
	}
	if _, err := w.auth.Handle(ctx, out.AccessToken); err != nil {
		t.Fatalf("the login's session: %v", err)
	}
}

// Review finding B: a login that verified the password before an administrator disabled the
// account (or the password changed) must not leave a session behind.
func TestB_LoginRacingADisableOrPasswordChangeLeavesNoSession(t *testing.T) {
	cases := map[string]func(t *testing.T, w *world, id string){
		"disable": func(t *testing.T, w *world, id string) { disable(t, w, id) },
		"password change": func(t *testing.T, w *world, id string) {
			u, err := w.users.ByID(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if u.PasswordHash, err = w.hasher.Hash(context.Background(), "another good passphrase"); err != nil {
				t.Fatal(err)
			}
			if _, err := w.users.Update(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			if _, err := w.sessions.DeleteByUser(context.Background(), id, w.clock.Now()); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			w.registerAndLogin(t, "b@x.com")
			u := mustUser(t, w, "b@x.com")
			h := &hookHasher{PasswordHasher: w.hasher}
			h.afterVerify = func() { change(t, w, u.ID) }
			login := application.NewLogin(w.users, identity.New(), w.sessions, h, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, discard())
			_, err := login.Handle(ctx, application.LoginInput{Identifier: "b@x.com", Password: goodPassword})
			if !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Fatalf("login = %v, want ErrInvalidCredentials", err)
			}
			live, err := w.sessions.ListByUser(ctx, u.ID, w.clock.Now())
			if err != nil || len(live) != 0 {
				t.Fatalf("sessions after the refused login = %v, %v; want none", live, err)
			}
		})
	}
}

// Review finding C: a first unknown-account login whose context is cancelled, or whose dummy
// hash fails, must not leave later unknown-account logins without the dummy check.
func TestC_DummyHashSurvivesACancelledOrFailedFirstLogin(t *testing.T) {
	w := newWorld(t)
	h := &hookHasher{PasswordHasher: w.hasher, failHash: 1}
	login := application.NewLogin(w.users, identity.New(), w.sessions, h, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, discard())
	in := application.LoginInput{Identifier: "nobody@x.com", Password: goodPassword}

	// The dummy hash fails: the login still spends a hash (of the password) and fails alike.
	if _, err := login.Handle(context.Background(), in); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("unknown account = %v", err)
	}
	if h.hashCalls != 2 {
		t.Fatalf("%d Hash calls after a failed dummy hash, want 2 (the dummy, then the fallback)", h.hashCalls)
	}
	// A request cancelled while the dummy is hashed (the client went away) computes it regardless.
	cancelled, cancel := context.WithCancel(context.Background())
	h.mu.Lock()
	h.beforeHash = cancel
	h.mu.Unlock()
	if _, err := login.Handle(cancelled, in); !errors.Is(err, domain.ErrInvalidCredentials) {
		t.Fatalf("unknown account, cancelled = %v", err)
	}
	for range 2 {
		start := time.Now()
		if _, err := login.Handle(context.Background(), in); !errors.Is(err, domain.ErrInvalidCredentials) {
			t.Fatalf("unknown account = %v", err)
		}
		if d := time.Since(start); d < time.Millisecond {
			t.Errorf("an unknown-account login took %v: no hashing work", d)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.verified) != 3 {
		t.Fatalf("%d dummy checks, want 3", len(h.verified))
	}
	for _, v := range h.verified {
		if !strings.HasPrefix(v, "$argon2id$") || v != h.verified[0] {
			t.Fatalf("dummy checks against %q, want one argon2id hash", h.verified)
		}
	}
	if h.hashCalls != 3 {
		t.Fatalf("%d Hash calls, want 3: the dummy is computed once it succeeds", h.hashCalls)
	}
}

// A role change between a login's read of the user and its new session: the login succeeds and
// the session it hands out carries the current roles, not the ones read before the change.
func TestB_RoleChangeDuringLoginReachesTheNewSession(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.registerAndLogin(t, "r@x.com")
	u := mustUser(t, w, "r@x.com")
	h := &hookHasher{PasswordHasher: w.hasher}
	h.afterVerify = func() {
		cur, err := w.users.ByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.Roles = []domain.Role{domain.RoleUser, domain.RoleModerator}
		if _, err := w.users.Update(ctx, cur); err != nil {
			t.Fatal(err)
		}
		if err := w.sessions.SetRoles(ctx, u.ID, cur.Roles); err != nil {
			t.Fatal(err)
		}
	}
	login := application.NewLogin(w.users, identity.New(), w.sessions, h, w.issuer, w.clock, system.NewIDs(), w.settings, nil, nil, discard())
	out, err := login.Handle(ctx, application.LoginInput{Identifier: "r@x.com", Password: goodPassword})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if p := mustAuth(t, w, out.AccessToken); !p.HasRole(domain.RoleModerator) {
		t.Fatalf("the new session has roles %v, want the moderator role granted during the login", p.Roles)
	}
	live, _ := w.sessions.ListByUser(ctx, u.ID, w.clock.Now())
	if len(live) != 2 { // the first login's session and this one; the stale one was deleted
		t.Fatalf("%d live sessions, want 2", len(live))
	}
}
