package application_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// adminWorld is a world with one admin (made by the operator) and a plain user, both logged in.
func adminWorld(t *testing.T) (w *world, admin, user application.Principal, userTok application.TokensOutput) {
	t.Helper()
	w = newWorld(t)
	ctx := context.Background()
	if _, err := w.admin.Create(ctx, application.Operator, application.CreateUserInput{
		Email: "root@x.com", Password: goodPassword, Roles: []domain.Role{domain.RoleAdmin}}); err != nil {
		t.Fatal(err)
	}
	at, err := w.login.Handle(ctx, application.LoginInput{Identifier: "root@x.com", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	userTok = w.registerAndLogin(t, "u@x.com")
	return w, mustAuth(t, w, at.AccessToken), mustAuth(t, w, userTok.AccessToken), userTok
}

func TestAdminAuthorization(t *testing.T) {
	w, admin, user, _ := adminWorld(t)
	ctx := context.Background()
	moderator := application.Principal{UserID: "m", Roles: []domain.Role{domain.RoleUser, domain.RoleModerator}}
	if _, err := w.admin.List(ctx, user, application.ListUsersInput{}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a user listed users: %v", err)
	}
	if _, err := w.admin.List(ctx, moderator, application.ListUsersInput{}); err != nil {
		t.Fatalf("a moderator may read: %v", err)
	}
	name := "x"
	if _, err := w.admin.Update(ctx, moderator, user.UserID, application.AdminUpdateInput{Name: &name}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a moderator changed a user: %v", err)
	}
	if err := w.admin.Delete(ctx, moderator, user.UserID); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a moderator deleted a user: %v", err)
	}
	if _, err := w.trail.List(ctx, moderator, application.AuditListInput{}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a moderator read the audit trail: %v", err)
	}
	if _, err := w.admin.Get(ctx, admin, user.UserID); err != nil {
		t.Fatal(err)
	}
}

func TestAdminRoleChangeReachesLiveSession(t *testing.T) {
	w, admin, user, userTok := adminWorld(t)
	ctx := context.Background()
	roles := []domain.Role{domain.RoleModerator}
	out, err := w.admin.Update(ctx, admin, user.UserID, application.AdminUpdateInput{Roles: &roles})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(out.User.Roles); got != "[user moderator]" {
		t.Fatalf("roles = %s; every user keeps the user role", got)
	}
	if p := mustAuth(t, w, userTok.AccessToken); !p.HasRole(domain.RoleModerator) {
		t.Fatal("the live session did not get the new role")
	}
	bad := []domain.Role{"root"}
	if _, err := w.admin.Update(ctx, admin, user.UserID, application.AdminUpdateInput{Roles: &bad}); fieldCodes(err)["roles"] != "invalid_role" {
		t.Fatalf("unknown role: %v", err)
	}
}

func TestAdminDisableEndsSessionsAndLogin(t *testing.T) {
	w, admin, user, userTok := adminWorld(t)
	ctx := context.Background()
	yes := true
	if _, err := w.admin.Update(ctx, admin, user.UserID, application.AdminUpdateInput{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, userTok.AccessToken); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("a disabled user's token still works: %v", err)
	}
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "u@x.com", Password: goodPassword}); err != domain.ErrInvalidCredentials {
		t.Fatalf("a disabled user logged in: %v", err)
	}
}

func TestLastAdminCannotRemoveThemself(t *testing.T) {
	w, admin, user, _ := adminWorld(t)
	ctx := context.Background()
	yes, plain := true, []domain.Role{domain.RoleUser}
	if _, err := w.admin.Update(ctx, admin, admin.UserID, application.AdminUpdateInput{Roles: &plain}); !errors.Is(err, domain.ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if _, err := w.admin.Update(ctx, admin, admin.UserID, application.AdminUpdateInput{Disabled: &yes}); !errors.Is(err, domain.ErrLastAdmin) {
		t.Fatalf("disable last admin: %v", err)
	}
	if err := w.admin.Delete(ctx, admin, admin.UserID); !errors.Is(err, domain.ErrLastAdmin) {
		t.Fatalf("delete last admin: %v", err)
	}
	// With a second admin, the first may step down.
	both := []domain.Role{domain.RoleAdmin}
	if _, err := w.admin.Update(ctx, admin, user.UserID, application.AdminUpdateInput{Roles: &both}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.admin.Update(ctx, admin, admin.UserID, application.AdminUpdateInput{Roles: &plain}); err != nil {
		t.Fatalf("step down with another admin present: %v", err)
	}
}

// meanwhile is the users and the directory of a world through which, once, another request's
// change lands at the last moment it could: after this request counted the admins, or before
// it writes when it counts none.
type meanwhile struct {
	ports.UserStore
	dir   ports.UserDirectory
	once  sync.Once
	other func()
}

func (m *meanwhile) CountActiveAdmins(ctx context.Context) (int, error) {
	n, err := m.dir.CountActiveAdmins(ctx)
	m.once.Do(m.other)
	return n, err
}

func (m *meanwhile) List(ctx context.Context, q domain.UserQuery) ([]domain.User, error) {
	return m.dir.List(ctx, q)
}

func (m *meanwhile) Update(ctx context.Context, u domain.User) (domain.User, error) {
	m.once.Do(m.other)
	return m.UserStore.Update(ctx, u)
}

func (m *meanwhile) UpdateUnlessLastAdmin(ctx context.Context, u domain.User) (domain.User, error) {
	m.once.Do(m.other)
	return m.UserStore.UpdateUnlessLastAdmin(ctx, u)
}

func (m *meanwhile) Delete(ctx context.Context, id string) error {
	m.once.Do(m.other)
	return m.UserStore.Delete(ctx, id)
}

// Of two admins, each stepping down while the other does (the audit's six admins disabling
// themselves at once on PostgreSQL left none): the one whose change lands second is refused
// with domain.ErrLastAdmin, whether it disables, demotes or deletes, and one admin stays.
func TestLastAdminStaysWhenTheOtherGoesMeanwhile(t *testing.T) {
	yes, plain := true, []domain.Role{domain.RoleUser}
	changes := map[string]func(a *application.Admin, root application.Principal) error{
		"disable": func(a *application.Admin, root application.Principal) error {
			_, err := a.Update(context.Background(), root, root.UserID, application.AdminUpdateInput{Disabled: &yes})
			return err
		},
		"demote": func(a *application.Admin, root application.Principal) error {
			_, err := a.Update(context.Background(), root, root.UserID, application.AdminUpdateInput{Roles: &plain})
			return err
		},
		"delete": func(a *application.Admin, root application.Principal) error {
			return a.Delete(context.Background(), root, root.UserID)
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			w, root, user, _ := adminWorld(t)
			ctx := context.Background()
			admins := []domain.Role{domain.RoleAdmin}
			if _, err := w.admin.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &admins}); err != nil {
				t.Fatal(err)
			}
			// The other admin disables themself; their own request found two admins too.
			other := func() {
				u, err := w.users.ByID(ctx, user.UserID)
				if err != nil {
					t.Fatal(err)
				}
				u.Disabled = true
				if _, err := w.users.Update(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			m := &meanwhile{UserStore: w.users, dir: w.users, other: other}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			a := application.NewAdmin(m, m, w.sessions, w.register,
				application.NewAuditor(w.auditLog, w.clock, system.NewIDs(), log), w.clock, nil, log)
			if err := change(a, root); !errors.Is(err, domain.ErrLastAdmin) {
				t.Fatalf("%s the one admin left: %v, want domain.ErrLastAdmin", name, err)
			}
			if n, err := w.users.CountActiveAdmins(ctx); err != nil || n != 1 {
				t.Fatalf("enabled admins: %d, %v; want 1", n, err)
			}
		})
	}
}

func TestAdminDeleteEndsSessions(t *testing.T) {
	w, admin, user, userTok := adminWorld(t)
	ctx := context.Background()
	if err := w.admin.Delete(ctx, admin, user.UserID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.auth.Handle(ctx, userTok.AccessToken); err == nil {
		t.Fatal("a deleted user's token still works")
	}
	if _, err := w.admin.Get(ctx, admin, user.UserID); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestAdminListPagesWithCursor(t *testing.T) {
	w, admin, _, _ := adminWorld(t)
	ctx := context.Background()
	for i := range 5 {
		w.clock.Advance(1)
		if _, err := w.register.Handle(ctx, application.RegisterInput{Email: fmt.Sprintf("p%d@x.com", i), Password: goodPassword}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		page, err := w.admin.List(ctx, admin, application.ListUsersInput{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range page.Users {
			if seen[u.ID] {
				t.Fatalf("user %s twice", u.Email)
			}
			seen[u.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 7 || pages != 4 {
		t.Fatalf("saw %d users in %d pages, want 7 in 4", len(seen), pages)
	}
	for _, bad := range []application.ListUsersInput{{Limit: 201}, {Limit: -1}, {Cursor: "%%%"}, {Role: "root"}} {
		if _, err := w.admin.List(ctx, admin, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// A forged cursor, well-formed base64 of "<nanoseconds>.<id>" but with an id no user can
	// have, is refused before it reaches the store.
	for _, forged := range []string{"1.\x00", "1.a\x00b", "1.\xff", "1.a'b", "1.a%", "1." + strings.Repeat("a", 65)} {
		_, err := w.admin.List(ctx, admin, application.ListUsersInput{Cursor: base64.RawURLEncoding.EncodeToString([]byte(forged))})
		if fieldCodes(err)["cursor"] != "invalid_cursor" {
			t.Errorf("forged cursor %q: %v, want invalid_cursor", forged, err)
		}
	}
	found, err := w.admin.List(ctx, admin, application.ListUsersInput{Q: "P3@"})
	if err != nil || len(found.Users) != 1 || found.Users[0].Email != "p3@x.com" {
		t.Fatalf("search: %+v %v", found.Users, err)
	}
}

func TestAuditRecordsEventsWithoutSecrets(t *testing.T) {
	w, admin, user, userTok := adminWorld(t)
	ctx := application.WithRequestInfo(context.Background(), application.RequestInfo{IP: "203.0.113.7", UserAgent: "test-agent"})
	if _, err := w.login.Handle(ctx, application.LoginInput{Identifier: "u@x.com", Password: "not the password"}); err == nil {
		t.Fatal("bad password accepted")
	}
	next, err := w.refresh.Handle(ctx, userTok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.password.Handle(ctx, application.ChangePasswordInput{UserID: user.UserID, SessionID: user.SessionID,
		CurrentPassword: goodPassword, NewPassword: "brand new passphrase"}); err != nil {
		t.Fatal(err)
	}
	mod := []domain.Role{domain.RoleModerator}
	if _, err := w.admin.Update(ctx, admin, user.UserID, application.AdminUpdateInput{Roles: &mod}); err != nil {
		t.Fatal(err)
	}
	if err := w.logout.Session(ctx, user.UserID, user.SessionID); err != nil {
		t.Fatal(err)
	}
	page, err := w.trail.List(ctx, admin, application.AuditListInput{UserID: user.UserID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	count := map[domain.AuditEvent]int{}
	for _, r := range page.Records {
		count[r.Event]++
		all := strings.Join([]string{r.Detail, r.Outcome, r.IP, r.UserAgent}, " ")
		for _, secret := range []string{goodPassword, "brand new passphrase", "not the password", userTok.RefreshToken, next.RefreshToken, userTok.AccessToken, "$argon2id$"} {
			if strings.Contains(all, secret) {
				t.Fatalf("audit record %+v holds a secret", r)
			}
		}
	}
	for ev, n := range map[domain.AuditEvent]int{domain.EventRegister: 1, domain.EventLoginSuccess: 1, domain.EventLoginFailure: 1,
		domain.EventPasswordChange: 1, domain.EventRoleChange: 1, domain.EventLogout: 1} {
		if count[ev] != n {
			t.Errorf("%s: %d records, want %d (all: %v)", ev, count[ev], n, count)
		}
	}
	last, err := w.trail.List(ctx, admin, application.AuditListInput{Event: string(domain.EventRoleChange)})
	if err != nil || len(last.Records) != 1 || last.Records[0].IP != "203.0.113.7" || last.Records[0].UserAgent != "test-agent" || last.Records[0].ActorID != admin.UserID {
		t.Fatalf("role change record: %+v %v", last.Records, err)
	}
}

func TestAuditRefreshReuse(t *testing.T) {
	w, admin, user, userTok := adminWorld(t)
	ctx := context.Background()
	if _, err := w.refresh.Handle(ctx, userTok.RefreshToken); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(w.settings.RefreshGrace + 1)
	if _, err := w.refresh.Handle(ctx, userTok.RefreshToken); !errors.Is(err, domain.ErrRefreshReuse) {
		t.Fatal(err)
	}
	page, err := w.trail.List(ctx, admin, application.AuditListInput{Event: string(domain.EventRefreshReuse)})
	if err != nil || len(page.Records) != 1 || page.Records[0].SubjectID != user.UserID {
		t.Fatalf("reuse record: %+v %v", page.Records, err)
	}
}

// TestListAtTheLargestPageSizeStillPages: limit=200 pages on (the application asks the store
// for one more row than it returns, to know whether another page follows).
func TestListAtTheLargestPageSizeStillPages(t *testing.T) {
	w, admin, _, _ := adminWorld(t)
	ctx := context.Background()
	for i := range 200 { // 202 users with the admin and the plain user
		now := w.clock.Now()
		if err := w.users.Create(ctx, domain.User{ID: fmt.Sprintf("bulk-%03d", i), Email: fmt.Sprintf("b%03d@x.com", i),
			Roles: []domain.Role{domain.RoleUser}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(1)
	}
	first, err := w.admin.List(ctx, admin, application.ListUsersInput{Limit: 200})
	if err != nil || len(first.Users) != 200 || first.NextCursor == "" {
		t.Fatalf("first page: %d users, cursor %q, %v", len(first.Users), first.NextCursor, err)
	}
	second, err := w.admin.List(ctx, admin, application.ListUsersInput{Limit: 200, Cursor: first.NextCursor})
	if err != nil || len(second.Users) != 2 || second.NextCursor != "" {
		t.Fatalf("second page: %d users, cursor %q, %v", len(second.Users), second.NextCursor, err)
	}
}

// rolesHook is a session store whose SetRoles first runs before, if set; an error from before
// fails that SetRoles instead of reaching the store.
type rolesHook struct {
	ports.SessionStore
	before func() error
}

func (h *rolesHook) SetRoles(ctx context.Context, userID string, roles []domain.Role) error {
	if h.before != nil {
		if err := h.before(); err != nil {
			return err
		}
	}
	return h.SessionStore.SetRoles(ctx, userID, roles)
}

// hookedAdminWorld is adminWorld with an administration use case whose session store is w's
// behind a rolesHook (set nothing yet).
func hookedAdminWorld(t *testing.T) (w *world, admin, user application.Principal, userTok application.TokensOutput,
	hook *rolesHook, a *application.Admin) {
	t.Helper()
	w, admin, user, userTok = adminWorld(t)
	hook = &rolesHook{SessionStore: w.sessions}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a = application.NewAdmin(w.users, w.users, hook, w.register,
		application.NewAuditor(w.auditLog, w.clock, system.NewIDs(), log), w.clock, nil, log)
	return w, admin, user, userTok, hook, a
}

// A demotion whose new roles are stored but cannot reach the sessions (the session store is
// down: a 503) is completed by sending it again once the store is back, although the stored
// roles no longer change: the demoted admin's live session must not keep the admin role.
func TestAdminRoleChangeSentAgainAfterSessionStoreFailureReachesSessions(t *testing.T) {
	w, root, user, userTok, hook, a := hookedAdminWorld(t)
	ctx := context.Background()
	promote, demote := []domain.Role{domain.RoleAdmin}, []domain.Role{domain.RoleUser}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &promote}); err != nil {
		t.Fatal(err)
	}
	if !mustAuth(t, w, userTok.AccessToken).HasRole(domain.RoleAdmin) {
		t.Fatal("the promotion did not reach the session")
	}
	hook.before = func() error {
		hook.before = nil
		return fmt.Errorf("set session roles: %w", domain.ErrUnavailable)
	}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &demote}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("demotion with the session store down: %v, want domain.ErrUnavailable", err)
	}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &demote}); err != nil {
		t.Fatalf("demotion sent again: %v", err)
	}
	if p := mustAuth(t, w, userTok.AccessToken); p.HasRole(domain.RoleAdmin) {
		t.Fatalf("the demoted user's session still has roles %v", p.Roles)
	}
}

// Two administrators change one user's roles at once, and the SetRoles of the change stored
// first reaches the sessions last: the sessions still end up with the roles stored last.
func TestAdminConcurrentRoleChangesLeaveSessionsWithTheStoredRoles(t *testing.T) {
	w, root, user, userTok, hook, a := hookedAdminWorld(t)
	ctx := context.Background()
	promote, demote := []domain.Role{domain.RoleAdmin}, []domain.Role{domain.RoleUser}
	// The promotion is stored; before its SetRoles, the other administrator's demotion runs
	// from start to end.
	hook.before = func() error {
		hook.before = nil
		if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &demote}); err != nil {
			t.Errorf("the concurrent demotion: %v", err)
		}
		return nil
	}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &promote}); err != nil && !errors.Is(err, domain.ErrStale) {
		t.Fatalf("promotion: %v", err)
	}
	stored, err := a.Get(ctx, root, user.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if p := mustAuth(t, w, userTok.AccessToken); !slices.Equal(p.Roles, stored.User.Roles) {
		t.Fatalf("the session has roles %v, the stored user %v", p.Roles, stored.User.Roles)
	}
}

// A change that is stored is in the audit trail, even when it could not reach the sessions
// (the request answered 503): sending it again changes nothing more and records nothing more.
func TestAdminChangeStoredButNotInSessionsIsAudited(t *testing.T) {
	w, root, user, _, hook, a := hookedAdminWorld(t)
	ctx := context.Background()
	mod := []domain.Role{domain.RoleModerator}
	hook.before = func() error {
		hook.before = nil
		return fmt.Errorf("set session roles: %w", domain.ErrUnavailable)
	}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &mod}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("role change with the session store down: %v, want domain.ErrUnavailable", err)
	}
	if stored, err := a.Get(ctx, root, user.UserID); err != nil || !stored.User.HasRole(domain.RoleModerator) {
		t.Fatalf("the role change was not stored (%+v, %v): nothing to audit, the test is moot", stored.User, err)
	}
	if _, err := a.Update(ctx, root, user.UserID, application.AdminUpdateInput{Roles: &mod}); err != nil {
		t.Fatal(err)
	}
	page, err := w.trail.List(ctx, root, application.AuditListInput{UserID: user.UserID, Event: string(domain.EventRoleChange)})
	if err != nil || len(page.Records) != 1 || page.Records[0].Detail != "roles=user -> user,moderator" {
		t.Fatalf("role_change records %+v, %v; want the one change", page.Records, err)
	}
}
