package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// adminUser is the administrator's view of a user (GET/PATCH /api/users/{id}).
type adminUser struct {
	user
	Disabled bool `json:"disabled"`
}

type usersPage struct {
	Users      []adminUser `json:"users"`
	NextCursor *string     `json:"next_cursor"`
}

type auditEvent struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Event     string `json:"event"`
	ActorID   string `json:"actor_id"`
	SubjectID string `json:"subject_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Outcome   string `json:"outcome"`
	Detail    string `json:"detail"`
}

type auditPage struct {
	Events     []auditEvent `json:"events"`
	NextCursor *string      `json:"next_cursor"`
}

// TestAdminEndToEnd walks the administration surface (issue 6): a fresh deployment has no admin;
// the operator creates one through the use case `portcullis users create --role admin` calls;
// that admin logs in over HTTP and lists, pages (while users register), searches, filters,
// promotes, demotes, disables and deletes; a plain user is refused everywhere; the last admin
// stays; the audit trail holds exactly one record per change and no secret.
func TestAdminEndToEnd(t *testing.T) {
	for _, b := range backends() {
		switch b.name {
		case "sqlite-sql", "mysql-redis", "postgres-redis":
		default:
			continue // sqlite-memory adds nothing here; the cluster needs its own throwaway Redis
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			var admin *application.Admin
			srv := startServer(t, b.env(t), fx.Populate(&admin))
			start := time.Now()
			adminEndToEnd(t, srv, admin)
			t.Logf("%s: admin walk-through took %s", b.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

func adminEndToEnd(t *testing.T, srv *server, admin *application.Admin) {
	ctx := context.Background()
	api := srv.apiClient().in(t)
	var secrets []string
	keep := func(tk tokens) tokens {
		secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
		return tk
	}

	// A fresh deployment has no admin: a plain user is refused the admin content, and the
	// operator's listing of admins is empty.
	plain := api.register(t)
	tPlain := keep(api.login(t, plain))
	api.do("GET", "/api/test/admin", nil, bearer(tPlain.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")
	if has, err := admin.HasAdmin(ctx); err != nil || has {
		t.Fatalf("fresh deployment: HasAdmin = %t, %v; want false", has, err)
	}
	admins, err := admin.List(ctx, application.Operator, application.ListUsersInput{Role: "admin"})
	if err != nil || len(admins.Users) != 0 {
		t.Fatalf("fresh deployment: admins %+v, %v; want none", admins.Users, err)
	}

	// The operator creates the first admin, exactly as `portcullis users create --role admin`.
	rootPassword := "operator chose this " + randHex(6)
	secrets = append(secrets, rootPassword, goodPassword)
	root := account{Email: "root-" + randHex(4) + "@example.com", Password: rootPassword}
	created, err := admin.Create(ctx, application.Operator, application.CreateUserInput{
		Email: root.Email, Password: rootPassword, Roles: []domain.Role{domain.RoleAdmin}})
	if err != nil {
		t.Fatalf("operator creates the admin: %v", err)
	}
	if got := created.User.Roles; !slices.Equal(got, []domain.Role{domain.RoleUser, domain.RoleAdmin}) {
		t.Fatalf("created admin roles %v, want [user admin]", got)
	}
	root.User.ID = created.User.ID
	if admins, err := admin.List(ctx, application.Operator, application.ListUsersInput{Role: "admin"}); err != nil ||
		len(admins.Users) != 1 || admins.Users[0].ID == "" || admins.Users[0].ID != root.User.ID {
		t.Fatalf("after create: admins %+v, %v; want the one created", admins.Users, err)
	}

	// The admin logs in over HTTP.
	tRoot := keep(api.login(t, root))
	if !slices.Equal(tRoot.User.Roles, []string{"user", "admin"}) || !slices.Equal(parseJWT(t, tRoot.AccessToken).Claims.Roles, []string{"user", "admin"}) {
		t.Fatalf("admin login: user %+v, token roles %v", tRoot.User, parseJWT(t, tRoot.AccessToken).Claims.Roles)
	}
	asRoot := bearer(tRoot.AccessToken)
	api.do("GET", "/api/test/admin", nil, asRoot...).expect(http.StatusOK)
	api.do("GET", "/api/test/mod", nil, asRoot...).expect(http.StatusOK)

	// The other users of the walk-through.
	mod, admin2, victimD, victimX := api.register(t), api.register(t), api.register(t), api.register(t)

	// A plain user gets 403 on every admin route and on /api/test/mod|admin; nothing changes.
	asPlain := bearer(tPlain.AccessToken)
	for _, rt := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/users", nil},
		{"GET", "/api/users?limit=2&role=admin", nil},
		{"GET", "/api/users/" + root.User.ID, nil},
		{"GET", "/api/users/" + plain.User.ID, nil},
		{"PATCH", "/api/users/" + root.User.ID, map[string]any{"disabled": true}},
		{"PATCH", "/api/users/" + plain.User.ID, map[string]any{"roles": []string{"user", "admin"}}},
		{"DELETE", "/api/users/" + root.User.ID, nil},
		{"DELETE", "/api/users/" + mod.User.ID, nil},
		{"GET", "/api/audit", nil},
		{"GET", "/api/audit?user_id=" + plain.User.ID, nil},
		{"GET", "/api/test/mod", nil},
		{"GET", "/api/test/admin", nil},
	} {
		api.do(rt.method, rt.path, rt.body, asPlain...).expectProblem(http.StatusForbidden, "insufficient_role")
	}
	for _, id := range []string{root.User.ID, mod.User.ID} {
		var got struct{ User adminUser }
		api.do("GET", "/api/users/"+id, nil, asRoot...).expect(http.StatusOK).decode(&got)
		if got.User.ID != id || got.User.Disabled {
			t.Fatalf("a plain user's refused request changed %s: %+v", id, got.User)
		}
	}
	var me struct{ User user }
	api.do("GET", "/api/users/me", nil, asPlain...).expect(http.StatusOK).decode(&me)
	if !slices.Equal(me.User.Roles, []string{"user"}) {
		t.Fatalf("a plain user's refused PATCH changed their roles: %v", me.User.Roles)
	}

	// Listing and paging with limit=2 while another goroutine registers a user between page
	// fetches: every user that existed before paging appears exactly once, in creation order.
	before := listAll(t, api, asRoot, "")
	wantIDs := []string{plain.User.ID, root.User.ID, mod.User.ID, admin2.User.ID, victimD.User.ID, victimX.User.ID}
	if got := ids(before); !slices.Equal(got, wantIDs) {
		t.Fatalf("GET /api/users (all): ids %v, want %v in creation order", got, wantIDs)
	}
	pagingAdds(t, srv, api, asRoot, before)

	// Search (q): a substring of one user's email, in another case; a username prefix; a name.
	searches := map[string]account{
		strings.ToUpper(strings.TrimPrefix(strings.TrimSuffix(mod.Email, "@example.com"), "user-")): mod,
		admin2.Username[:len(admin2.Username)-2]:                                                    admin2,
		"User " + strings.TrimPrefix(victimD.Username, "u_"):                                        victimD,
	}
	for q, want := range searches {
		if got := ids(listAll(t, api, asRoot, "q="+url.QueryEscape(q))); !slices.Equal(got, []string{want.User.ID}) {
			t.Errorf("q=%q: ids %v, want just %s", q, got, want.User.ID)
		}
	}
	if got := listAll(t, api, asRoot, "q=nobody-matches-"+randHex(4)); len(got) != 0 {
		t.Errorf("a search that matches no one returned %d users", len(got))
	}

	// Promote admin2 to admin and mod to moderator; both take effect on tokens issued before.
	tAdmin2 := keep(api.login(t, admin2))
	tMod := keep(api.login(t, mod))
	api.do("GET", "/api/test/mod", nil, bearer(tMod.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")
	patchUser(t, api, asRoot, admin2.User.ID, map[string]any{"roles": []string{"user", "admin"}}, []string{"user", "admin"}, false)
	patchUser(t, api, asRoot, mod.User.ID, map[string]any{"roles": []string{"moderator"}}, []string{"user", "moderator"}, false)
	api.do("GET", "/api/test/mod", nil, bearer(tMod.AccessToken)...).expect(http.StatusOK)
	var rMod tokens
	api.refresh(tMod.RefreshToken).expect(http.StatusOK).decode(&rMod)
	keep(rMod)
	if got := parseJWT(t, rMod.AccessToken).Claims.Roles; !slices.Equal(got, []string{"user", "moderator"}) {
		t.Errorf("refreshed moderator token roles %v, want [user moderator]", got)
	}
	api.do("GET", "/api/test/mod", nil, bearer(rMod.AccessToken)...).expect(http.StatusOK)
	api.do("GET", "/api/test/admin", nil, bearer(rMod.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")
	// A moderator reads but does not change (README "Who may do what").
	api.do("GET", "/api/users/"+plain.User.ID, nil, bearer(rMod.AccessToken)...).expect(http.StatusOK)
	api.do("PATCH", "/api/users/"+plain.User.ID, map[string]any{"disabled": true}, bearer(rMod.AccessToken)...).
		expectProblem(http.StatusForbidden, "insufficient_role")
	api.do("GET", "/api/audit", nil, bearer(rMod.AccessToken)...).expectProblem(http.StatusForbidden, "insufficient_role")

	// Filters: role and disabled.
	if got := ids(listAll(t, api, asRoot, "role=admin")); !sameSet(got, []string{root.User.ID, admin2.User.ID}) {
		t.Errorf("role=admin: %v, want root and admin2", got)
	}
	if got := ids(listAll(t, api, asRoot, "role=moderator")); !slices.Equal(got, []string{mod.User.ID}) {
		t.Errorf("role=moderator: %v, want mod", got)
	}
	if p := api.do("GET", "/api/users?role=superuser", nil, asRoot...).expectProblem(http.StatusUnprocessableEntity, "validation_failed"); p.fieldCode("role") != "invalid_role" {
		t.Errorf("role=superuser: errors %+v, want role invalid_role", p.Errors)
	}

	// A cursor this API did not hand out is 422 invalid_cursor, never a 500: a forged one is
	// well-formed base64 of "<nanoseconds>.<id>" with a NUL (which SQLite and PostgreSQL refuse
	// in a string) or a quote in the id.
	for _, forged := range []string{"1.\x00", "1.a\x00b", "1.\xff", "1.a'b", "1.a%"} {
		cursor := base64.RawURLEncoding.EncodeToString([]byte(forged))
		p := api.do("GET", "/api/users?cursor="+cursor, nil, asRoot...).expectProblem(http.StatusUnprocessableEntity, "validation_failed")
		if p.fieldCode("cursor") != "invalid_cursor" {
			t.Errorf("cursor %q: errors %+v, want cursor invalid_cursor", forged, p.Errors)
		}
	}

	// Demote the second admin: their very next admin request is 403 (SECURITY C28).
	api.do("GET", "/api/users?limit=1", nil, bearer(tAdmin2.AccessToken)...).expect(http.StatusOK)
	patchUser(t, api, asRoot, admin2.User.ID, map[string]any{"roles": []string{"user"}}, []string{"user"}, false)
	asAdmin2 := bearer(tAdmin2.AccessToken)
	api.do("GET", "/api/users?limit=1", nil, asAdmin2...).expectProblem(http.StatusForbidden, "insufficient_role")
	api.do("PATCH", "/api/users/"+plain.User.ID, map[string]any{"disabled": true}, asAdmin2...).expectProblem(http.StatusForbidden, "insufficient_role")
	api.do("GET", "/api/audit", nil, asAdmin2...).expectProblem(http.StatusForbidden, "insufficient_role")
	api.do("GET", "/api/test/admin", nil, asAdmin2...).expectProblem(http.StatusForbidden, "insufficient_role")
	api.do("GET", "/api/users/me", nil, asAdmin2...).expect(http.StatusOK) // still a user, still logged in

	// Disable a user: the access token is 401 at once, refresh 401, and the right password gets
	// exactly the answer a wrong one gets (SECURITY B9, disabled case).
	tD := keep(api.login(t, victimD))
	api.meStatusIs(t, tD.AccessToken, http.StatusOK)
	patchUser(t, api, asRoot, victimD.User.ID, map[string]any{"disabled": true}, []string{"user"}, true)
	api.do("GET", "/api/users/me", nil, bearer(tD.AccessToken)...).expectProblem(http.StatusUnauthorized, "invalid_token")
	api.refresh(tD.RefreshToken).expect(http.StatusUnauthorized)
	const wrongPassword = "not the password of anyone 7"
	secrets = append(secrets, wrongPassword)
	disabledLogin := api.do("POST", "/api/auth/login", map[string]string{"email": victimD.Email, "password": victimD.Password})
	wrongLogin := api.do("POST", "/api/auth/login", map[string]string{"email": plain.Email, "password": wrongPassword})
	disabledLogin.expectProblem(http.StatusUnauthorized, "invalid_credentials")
	wrongLogin.expectProblem(http.StatusUnauthorized, "invalid_credentials")
	if d, w := stripRequestID(t, disabledLogin), stripRequestID(t, wrongLogin); d != w {
		t.Errorf("a disabled account's login answers\n  %s\nbut a wrong password answers\n  %s", d, w)
	}
	if n := len(disabledLogin.Header.Values("Set-Cookie")); n != 0 {
		t.Errorf("a disabled account's login sets %d cookies", n)
	}
	if got := ids(listAll(t, api, asRoot, "disabled=true")); !slices.Equal(got, []string{victimD.User.ID}) {
		t.Errorf("disabled=true: %v, want the disabled user", got)
	}
	if got := ids(listAll(t, api, asRoot, "disabled=false")); slices.Contains(got, victimD.User.ID) || !slices.Contains(got, plain.User.ID) {
		t.Errorf("disabled=false: %v", got)
	}
	if got := ids(listAll(t, api, asRoot, "role=user&disabled=true")); !slices.Equal(got, []string{victimD.User.ID}) {
		t.Errorf("role=user&disabled=true: %v, want the disabled user", got)
	}

	// Delete a user: 204, then 404, and their token dies.
	tX := keep(api.login(t, victimX))
	api.meStatusIs(t, tX.AccessToken, http.StatusOK)
	api.do("DELETE", "/api/users/"+victimX.User.ID, nil, asRoot...).expect(http.StatusNoContent)
	api.do("GET", "/api/users/"+victimX.User.ID, nil, asRoot...).expectProblem(http.StatusNotFound, "not_found")
	api.do("GET", "/api/users/me", nil, bearer(tX.AccessToken)...).expectProblem(http.StatusUnauthorized, "invalid_token")
	api.refresh(tX.RefreshToken).expect(http.StatusUnauthorized)
	api.do("DELETE", "/api/users/"+victimX.User.ID, nil, asRoot...).expectProblem(http.StatusNotFound, "not_found")

	// The last admin cannot demote, disable or delete themself, and stays an admin.
	for _, body := range []map[string]any{{"roles": []string{"user"}}, {"roles": []string{"user", "moderator"}}, {"disabled": true}} {
		api.do("PATCH", "/api/users/"+root.User.ID, body, asRoot...).expectProblem(http.StatusConflict, "last_admin")
	}
	api.do("DELETE", "/api/users/"+root.User.ID, nil, asRoot...).expectProblem(http.StatusConflict, "last_admin")
	api.do("GET", "/api/test/admin", nil, asRoot...).expect(http.StatusOK)
	if got := ids(listAll(t, api, asRoot, "role=admin&disabled=false")); !slices.Equal(got, []string{root.User.ID}) {
		t.Errorf("after the refused self-changes, admins %v, want the root admin", got)
	}

	// The audit trail: exactly one record per change, by the admin, and no secret anywhere.
	events, raw := auditAll(t, api, asRoot)
	count := func(event, subject string) (n int, last auditEvent) {
		for _, e := range events {
			if e.Event == event && e.SubjectID == subject {
				n++
				last = e
			}
		}
		return n, last
	}
	for _, want := range []struct {
		event, subject, detail string
	}{
		{"role_change", mod.User.ID, "roles=user -> user,moderator"},
		{"user_disable", victimD.User.ID, ""},
		{"user_delete", victimX.User.ID, ""},
	} {
		n, e := count(want.event, want.subject)
		if n != 1 {
			t.Errorf("audit: %d %s records for %s, want exactly 1", n, want.event, want.subject)
			continue
		}
		if e.ActorID != root.User.ID || e.Outcome != "ok" || e.Time == "" || e.ID == "" {
			t.Errorf("audit %s: %+v; want actor %s, outcome ok", want.event, e, root.User.ID)
		}
		if want.detail != "" && e.Detail != want.detail {
			t.Errorf("audit %s detail %q, want %q", want.event, e.Detail, want.detail)
		}
	}
	if n, _ := count("role_change", admin2.User.ID); n != 2 { // promoted, then demoted
		t.Errorf("audit: %d role_change records for admin2, want 2 (promote, demote)", n)
	}
	for _, ev := range []string{"role_change", "user_disable", "user_delete", "user_update", "user_enable"} {
		if n, _ := count(ev, root.User.ID); n != 0 {
			t.Errorf("audit: %d %s records for the last admin's refused self-changes, want 0", n, ev)
		}
		if n, _ := count(ev, plain.User.ID); n != 0 {
			t.Errorf("audit: %d %s records for the plain user's refused requests, want 0", n, ev)
		}
	}
	if n, e := count("register", root.User.ID); n != 1 || e.ActorID != "" || !strings.Contains(e.Detail, "admin") {
		t.Errorf("audit: operator's create of the admin: %d records, last %+v; want one with no actor", n, e)
	}
	// The event filter agrees.
	var filtered auditPage
	api.do("GET", "/api/audit?event=user_delete&user_id="+victimX.User.ID, nil, asRoot...).expect(http.StatusOK).decode(&filtered)
	if len(filtered.Events) != 1 || filtered.Events[0].SubjectID != victimX.User.ID {
		t.Errorf("GET /api/audit?event=user_delete&user_id=…: %+v", filtered.Events)
	}
	for _, n := range secretNeedles(secrets) {
		if strings.Contains(raw, n) {
			t.Errorf("the audit trail holds a secret (%q…)", truncate(n, 12))
		}
	}
}

// pagingAdds pages GET /api/users with limit=2 while a goroutine registers one user after each
// of the first pages; every user of before appears exactly once and in order, and so does every
// user registered before the last page was fetched (they were created later, so they sort after).
func pagingAdds(t *testing.T, srv *server, api *client, as []string, before []adminUser) {
	t.Helper()
	const inserts = 3
	next := make(chan struct{})
	done := make(chan error)
	var added []string // written by the goroutine, read after done
	go func() {
		defer close(done)
		reg := srv.apiClient()
		for range next {
			id, err := tryRegister(reg)
			if err != nil {
				done <- err
				continue
			}
			added = append(added, id)
			done <- nil
		}
	}()
	var seen []string
	cursor, pages, sent := "", 0, 0
	for {
		path := "/api/users?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page usersPage
		api.do("GET", path, nil, as...).expect(http.StatusOK).decode(&page)
		pages++
		if len(page.Users) > 2 || (page.NextCursor != nil && len(page.Users) != 2) {
			close(next)
			t.Fatalf("page %d: %d users, next_cursor %v", pages, len(page.Users), page.NextCursor)
		}
		seen = append(seen, ids(page.Users)...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if sent < inserts {
			sent++
			next <- struct{}{}
			if err := <-done; err != nil {
				close(next)
				t.Fatalf("register during paging: %v", err)
			}
		}
		if pages > 50 {
			close(next)
			t.Fatal("paging does not end")
		}
	}
	close(next)
	<-done
	if sent != inserts || len(added) != inserts {
		t.Fatalf("only %d of %d registrations ran between pages (%d pages)", len(added), inserts, pages)
	}
	want := append(ids(before), added...)
	if !slices.Equal(seen, want) {
		t.Fatalf("paging with limit=2 while users registered saw\n  %v\nwant (existing, then new, in creation order)\n  %v", seen, want)
	}
	t.Logf("paged %d users in %d pages, %d registered while paging", len(seen), pages, len(added))
}

// tryRegister registers a fresh account without failing the test (for other goroutines).
func tryRegister(c *client) (string, error) {
	id := randHex(5)
	r, err := c.try("POST", "/api/auth/register", map[string]string{"email": "late-" + id + "@example.com",
		"password": goodPassword, "username": "late_" + id, "name": "Late " + id})
	if err != nil {
		return "", err
	}
	if r.Status != http.StatusCreated {
		return "", fmt.Errorf("status %d: %s", r.Status, truncate(string(r.Body), 300))
	}
	var out struct{ User user }
	if err := json.Unmarshal(r.Body, &out); err != nil || out.User.ID == "" {
		return "", errors.Join(errors.New("register: no user id"), err)
	}
	return out.User.ID, nil
}

// listAll follows next_cursor through GET /api/users?<query> at limit 200 and returns every user.
func listAll(t *testing.T, api *client, as []string, query string) []adminUser {
	t.Helper()
	var all []adminUser
	cursor := ""
	for range 20 {
		path := "/api/users?limit=200"
		if query != "" {
			path += "&" + query
		}
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page usersPage
		api.do("GET", path, nil, as...).expect(http.StatusOK).decode(&page)
		all = append(all, page.Users...)
		if page.NextCursor == nil {
			return all
		}
		cursor = *page.NextCursor
	}
	t.Fatalf("GET /api/users?%s does not end", query)
	return nil
}

// auditAll reads the whole audit trail, following next_cursor, and returns the records and the
// raw JSON of every page.
func auditAll(t *testing.T, api *client, as []string) ([]auditEvent, string) {
	t.Helper()
	var all []auditEvent
	var raw strings.Builder
	cursor := ""
	for range 20 {
		path := "/api/audit?limit=200"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := api.do("GET", path, nil, as...).expect(http.StatusOK)
		raw.Write(r.Body)
		var page auditPage
		r.decode(&page)
		all = append(all, page.Events...)
		if page.NextCursor == nil {
			return all, raw.String()
		}
		cursor = *page.NextCursor
	}
	t.Fatal("GET /api/audit does not end")
	return nil, ""
}

// patchUser PATCHes user id as the admin and checks the answer's roles and disabled state.
func patchUser(t *testing.T, api *client, as []string, id string, body map[string]any, roles []string, disabled bool) {
	t.Helper()
	var got struct{ User adminUser }
	api.do("PATCH", "/api/users/"+id, body, as...).expect(http.StatusOK).decode(&got)
	if got.User.ID != id || !slices.Equal(got.User.Roles, roles) || got.User.Disabled != disabled {
		t.Fatalf("PATCH /api/users/%s %v: got %+v, want roles %v disabled %t", id, body, got.User, roles, disabled)
	}
}

// meStatusIs checks GET /api/users/me with token.
func (c *client) meStatusIs(t *testing.T, token string, want int) {
	t.Helper()
	if got := c.meStatus(token); got != want {
		t.Fatalf("GET /api/users/me: %d, want %d", got, want)
	}
}

// secretNeedles expands passwords and tokens into the strings that must never be stored: each
// whole, a JWT's signature alone, a refresh token's secret part, and any password hash.
func secretNeedles(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, s)
		if parts := strings.Split(s, "."); len(parts) == 3 {
			out = append(out, parts[2])
		} else if sid, random, ok := strings.Cut(s, "."); ok && sid != "" && random != "" {
			out = append(out, random)
		}
	}
	return append(out, "$argon2id$", "argon2id$v=", "$2a$", "$2b$")
}

func ids(us []adminUser) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
