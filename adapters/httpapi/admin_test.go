package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
	"github.com/portcullis-auth/portcullis/domain"
)

// call sends an authenticated request with tok as Bearer token ("" for none).
func (e *env) call(method, path string, body any, tok string, headers ...string) response {
	e.t.Helper()
	if tok != "" {
		headers = append(headers, bearer(tok)...)
	}
	return e.do(req(method, path, body, headers...))
}

// expectStatus checks a non-problem answer and returns its JSON body (nil for 204).
func expectStatus(t *testing.T, r response, status int) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", r.StatusCode, status, r.body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", cc)
	}
	if status == http.StatusNoContent {
		return nil
	}
	return r.json(t)
}

// adminEnv is a server with one admin, logged in.
func adminEnv(t *testing.T, mutate ...func(*httpapi.Config)) (*env, string, session) {
	t.Helper()
	e := newEnv(t, mutate...)
	id := e.register("root@example.com", domain.RoleUser, domain.RoleAdmin)
	return e, id, e.login("root@example.com")
}

// listIDs pages through GET /api/users with query and returns the ids in order.
func listIDs(t *testing.T, e *env, tok, query string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 100 {
		q := query
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		m := expectStatus(t, e.call("GET", "/api/users?"+q, nil, tok), 200)
		for _, u := range m["users"].([]any) {
			ids = append(ids, u.(map[string]any)["id"].(string))
		}
		if m["next_cursor"] == nil {
			return ids
		}
		cursor = m["next_cursor"].(string)
	}
	t.Fatal("paging did not end")
	return nil
}

func TestAdminRoutesNeedRoles(t *testing.T) {
	e, adminID, _ := adminEnv(t)
	e.register("plain@example.com")
	e.register("mod@example.com", domain.RoleUser, domain.RoleModerator)
	victim := e.register("victim@example.com")
	plain, mod := e.login("plain@example.com"), e.login("mod@example.com")

	type route struct{ method, path, body string }
	reads := []route{{"GET", "/api/users", ""}, {"GET", "/api/users/" + victim, ""}}
	writes := []route{
		{"PATCH", "/api/users/" + victim, `{"roles":["user","admin"]}`},
		{"PATCH", "/api/users/" + victim, `{"disabled":true}`},
		{"DELETE", "/api/users/" + victim, ""},
		{"GET", "/api/audit", ""},
	}
	send := func(r route, tok string) response {
		var body any
		if r.body != "" {
			body = r.body
		}
		return e.call(r.method, r.path, body, tok)
	}
	for _, r := range append(slices.Clone(reads), writes...) {
		t.Run("anonymous "+r.method+" "+r.path, func(t *testing.T) {
			expectProblem(t, send(r, ""), 401, "unauthenticated")
		})
		t.Run("user "+r.method+" "+r.path, func(t *testing.T) {
			expectProblem(t, send(r, plain.access), 403, "insufficient_role")
		})
	}
	for _, r := range writes {
		t.Run("moderator "+r.method+" "+r.path, func(t *testing.T) {
			expectProblem(t, send(r, mod.access), 403, "insufficient_role")
		})
	}
	for _, r := range reads {
		t.Run("moderator reads "+r.path, func(t *testing.T) {
			expectStatus(t, send(r, mod.access), 200)
		})
	}
	for _, p := range []string{"/api/test/mod", "/api/test/admin"} {
		expectProblem(t, e.call("GET", p, nil, plain.access), 403, "insufficient_role")
	}
	// Nothing the refused writes asked for happened.
	u, err := e.users.ByID(context.Background(), victim)
	if err != nil || u.Disabled || u.HasRole(domain.RoleAdmin) {
		t.Fatalf("victim changed by a refused write: %+v, %v", u, err)
	}

	t.Run("me is still the caller's own", func(t *testing.T) {
		m := expectStatus(t, e.call("GET", "/api/users/me", nil, plain.access), 200)
		if m["user"].(map[string]any)["email"] != "plain@example.com" {
			t.Fatalf("GET /api/users/me = %v", m)
		}
		root := e.login("root@example.com")
		m = expectStatus(t, e.call("GET", "/api/users/me", nil, root.access), 200)
		if got := m["user"].(map[string]any); got["id"] != adminID || got["disabled"] != nil {
			t.Fatalf("GET /api/users/me for an admin = %v, want the admin's own profile", got)
		}
		// The self route refuses roles: an admin's PATCH /api/users/me is not the admin PATCH.
		expectProblem(t, e.call("PATCH", "/api/users/me", `{"roles":["user"]}`, root.access), 400, "invalid_body")
		r := e.call("DELETE", "/api/users/me", nil, root.access)
		expectProblem(t, r, 405, "method_not_allowed")
		if a := r.Header.Get("Allow"); strings.Contains(a, "DELETE") {
			t.Fatalf("Allow = %q", a)
		}
		if _, err := e.users.ByID(context.Background(), adminID); err != nil {
			t.Fatalf("admin gone after DELETE /api/users/me: %v", err)
		}
	})
}

func TestAdminListPagesWithoutGapsOrDuplicates(t *testing.T) {
	e, _, root := adminEnv(t)
	for i := range 7 {
		e.register(fmt.Sprintf("early%d@example.com", i))
	}
	seen := map[string]int{}
	var order []string
	cursor, added := "", 0
	for page := 0; ; page++ {
		path := "/api/users?limit=3"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		m := expectStatus(t, e.call("GET", path, nil, root.access), 200)
		users := m["users"].([]any)
		if len(users) > 3 {
			t.Fatalf("page %d has %d users, limit 3", page, len(users))
		}
		for _, u := range users {
			u := u.(map[string]any)
			id := u["id"].(string)
			seen[id]++
			order = append(order, id)
			if _, ok := u["disabled"].(bool); !ok {
				t.Fatalf("admin user view has no disabled flag: %v", u)
			}
			if _, ok := u["password_hash"]; ok {
				t.Fatalf("user view carries a hash: %v", u)
			}
		}
		if m["next_cursor"] == nil {
			break
		}
		// Users sign up while the admin pages.
		if added < 4 {
			e.register(fmt.Sprintf("late%d@example.com", added))
			added++
		}
		cursor = m["next_cursor"].(string)
		if page > 20 {
			t.Fatal("paging did not end")
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("user %s seen %d times", id, n)
		}
	}
	// Every user, including those added meanwhile (they sort after the cursor), in creation order.
	all := listIDs(t, e, root.access, "limit=200")
	if added == 0 || len(all) != 1+7+added || !slices.Equal(all, order) {
		t.Fatalf("paged %v\nwant    %v", order, all)
	}
}

func TestAdminListFilters(t *testing.T) {
	e, adminID, root := adminEnv(t)
	reg := func(body map[string]any) string {
		body["password"] = password
		m := expectStatus(t, e.do(req("POST", "/api/auth/register", body)), 201)
		return m["user"].(map[string]any)["id"].(string)
	}
	alice := reg(map[string]any{"email": "alice@corp.example", "username": "alice_w", "name": "Alice Wonder"})
	bob := reg(map[string]any{"email": "bob@home.example", "username": "bobby", "name": "Robert Stone"})
	carol := reg(map[string]any{"email": "carol@home.example", "name": "Carol Corpwell"})
	mod := e.register("mod@corp.example", domain.RoleUser, domain.RoleModerator)
	expectStatus(t, e.call("PATCH", "/api/users/"+bob, map[string]any{"disabled": true}, root.access), 200)

	cases := map[string]struct {
		query string
		want  []string
	}{
		"email substring":       {"q=home.example", []string{bob, carol}},
		"username prefix":       {"q=bobb", []string{bob}},
		"name, any case":        {"q=WONDER", []string{alice}},
		"any of the three":      {"q=corp", []string{alice, carol, mod}},
		"role moderator":        {"role=moderator", []string{mod}},
		"role admin":            {"role=admin", []string{adminID}},
		"disabled":              {"disabled=true", []string{bob}},
		"enabled with q":        {"disabled=false&q=home", []string{carol}},
		"everything":            {"", []string{adminID, alice, bob, carol, mod}},
		"nothing matches":       {"q=nobody-at-all", nil},
		"q with spaces trimmed": {"q=%20%20stone%20", []string{bob}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := listIDs(t, e, root.access, tc.query); !slices.Equal(got, tc.want) {
				t.Fatalf("%s: got %v, want %v", tc.query, got, tc.want)
			}
		})
	}
	m := expectStatus(t, e.call("GET", "/api/users?disabled=true", nil, root.access), 200)
	if u := m["users"].([]any)[0].(map[string]any); u["disabled"] != true {
		t.Fatalf("disabled user shown as %v", u)
	}
	if m := expectStatus(t, e.call("GET", "/api/users?q=nobody", nil, root.access), 200); m["users"] == nil {
		t.Fatalf("empty page must be [], not null: %v", m)
	}

	bad := map[string]struct{ query, field, code string }{
		"limit zero":        {"limit=0", "limit", "invalid_limit"},
		"limit negative":    {"limit=-1", "limit", "invalid_limit"},
		"limit too big":     {"limit=201", "limit", "invalid_limit"},
		"limit not number":  {"limit=ten", "limit", "invalid_limit"},
		"limit empty":       {"limit=", "limit", "invalid_limit"},
		"limit huge":        {"limit=99999999999999999999", "limit", "invalid_limit"},
		"cursor garbage":    {"cursor=%21%21%21", "cursor", "invalid_cursor"},
		"cursor not ours":   {"cursor=aGVsbG8", "cursor", "invalid_cursor"},
		"cursor too long":   {"cursor=" + strings.Repeat("A", 300), "cursor", "invalid_cursor"},
		"role unknown":      {"role=root", "role", "invalid_role"},
		"disabled not bool": {"disabled=yes", "disabled", "invalid_disabled"},
		"disabled empty":    {"disabled=", "disabled", "invalid_disabled"},
		"q too long":        {"q=" + strings.Repeat("x", 300), "q", "invalid_query"},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			p := expectProblem(t, e.call("GET", "/api/users?"+tc.query, nil, root.access), 422, "validation_failed")
			f := p["errors"].([]any)[0].(map[string]any)
			if f["field"] != tc.field || f["code"] != tc.code {
				t.Fatalf("errors = %v, want %s/%s", p["errors"], tc.field, tc.code)
			}
		})
	}
	t.Run("limit 200 is fine", func(t *testing.T) {
		expectStatus(t, e.call("GET", "/api/users?limit=200", nil, root.access), 200)
	})
}

func TestAdminGetUser(t *testing.T) {
	e, _, root := adminEnv(t)
	id := e.register("someone@example.com")
	m := expectStatus(t, e.call("GET", "/api/users/"+id, nil, root.access), 200)
	u := m["user"].(map[string]any)
	if u["id"] != id || u["email"] != "someone@example.com" || u["disabled"] != false {
		t.Fatalf("GET /api/users/%s = %v", id, u)
	}
	for _, k := range []string{"password", "password_hash", "hash"} {
		if _, ok := u[k]; ok {
			t.Fatalf("user view carries %q: %v", k, u)
		}
	}
	expectProblem(t, e.call("GET", "/api/users/no-such-user", nil, root.access), 404, "not_found")
}

func TestAdminPromoteTakesEffectAtOnce(t *testing.T) {
	e, _, root := adminEnv(t)
	id := e.register("rising@example.com")
	s := e.login("rising@example.com")
	expectProblem(t, e.call("GET", "/api/test/mod", nil, s.access), 403, "insufficient_role")

	m := expectStatus(t, e.call("PATCH", "/api/users/"+id, map[string]any{"roles": []string{"moderator"}}, root.access), 200)
	if roles := m["user"].(map[string]any)["roles"]; fmt.Sprint(roles) != "[user moderator]" {
		t.Fatalf("roles = %v, want [user moderator] (user is always kept)", roles)
	}
	// The same access token, no refresh: strict mode reads the roles from the session.
	expectStatus(t, e.call("GET", "/api/test/mod", nil, s.access), 200)
	expectStatus(t, e.call("GET", "/api/users", nil, s.access), 200)
	expectProblem(t, e.call("GET", "/api/test/admin", nil, s.access), 403, "insufficient_role")
	expectProblem(t, e.call("PATCH", "/api/users/"+id, map[string]any{"roles": []string{"admin"}}, s.access), 403, "insufficient_role")
}

func TestAdminDemoteTakesEffectAtOnce(t *testing.T) {
	// SECURITY C28: a demoted admin fails the very next request.
	e, rootID, root := adminEnv(t)
	other := e.register("second@example.com", domain.RoleUser, domain.RoleAdmin)
	s := e.login("second@example.com")
	expectStatus(t, e.call("GET", "/api/users", nil, s.access), 200)

	expectStatus(t, e.call("PATCH", "/api/users/"+other, map[string]any{"roles": []string{"user"}}, root.access), 200)
	expectProblem(t, e.call("GET", "/api/users", nil, s.access), 403, "insufficient_role")
	expectProblem(t, e.call("GET", "/api/audit", nil, s.access), 403, "insufficient_role")
	expectProblem(t, e.call("GET", "/api/test/admin", nil, s.access), 403, "insufficient_role")
	expectStatus(t, e.call("GET", "/api/users/me", nil, s.access), 200) // still a user

	// An admin may demote themself while another admin remains; their next request is refused.
	expectStatus(t, e.call("PATCH", "/api/users/"+other, map[string]any{"roles": []string{"admin"}}, root.access), 200)
	expectStatus(t, e.call("PATCH", "/api/users/"+rootID, map[string]any{"roles": []string{"user"}}, root.access), 200)
	expectProblem(t, e.call("GET", "/api/users", nil, root.access), 403, "insufficient_role")
}

func TestAdminDisableEndsSessionsAndLogin(t *testing.T) {
	e, _, root := adminEnv(t)
	id := e.register("leaving@example.com")
	s := e.login("leaving@example.com")
	expectStatus(t, e.call("GET", "/api/users/me", nil, s.access), 200)

	wrong := e.do(req("POST", "/api/auth/login", map[string]any{"email": "leaving@example.com", "password": "not the password"}))
	m := expectStatus(t, e.call("PATCH", "/api/users/"+id, map[string]any{"disabled": true}, root.access), 200)
	if m["user"].(map[string]any)["disabled"] != true {
		t.Fatalf("PATCH disabled = %v", m)
	}
	expectProblem(t, e.call("GET", "/api/users/me", nil, s.access), 401, "invalid_token")
	expectProblem(t, e.do(req("POST", "/api/auth/refresh", map[string]any{"refresh_token": s.refresh})), 401, "invalid_refresh_token")

	// The right password for a disabled account reads exactly like a wrong one (SECURITY B9).
	disabled := e.do(req("POST", "/api/auth/login", map[string]any{"email": "leaving@example.com", "password": password}))
	if disabled.StatusCode != wrong.StatusCode || withoutRequestID(t, disabled) != withoutRequestID(t, wrong) {
		t.Fatalf("disabled login %d %s\nwrong password %d %s", disabled.StatusCode, disabled.body, wrong.StatusCode, wrong.body)
	}

	expectStatus(t, e.call("PATCH", "/api/users/"+id, map[string]any{"disabled": false}, root.access), 200)
	e.login("leaving@example.com")
}

// withoutRequestID is a problem body with its request id removed, for comparing two answers.
func withoutRequestID(t *testing.T, r response) string {
	t.Helper()
	m := r.json(t)
	delete(m, "request_id")
	return fmt.Sprint(m)
}

func TestAdminDeleteUser(t *testing.T) {
	e, _, root := adminEnv(t)
	id := e.register("gone@example.com")
	s := e.login("gone@example.com")
	expectStatus(t, e.call("DELETE", "/api/users/"+id, nil, root.access), 204)
	expectProblem(t, e.call("GET", "/api/users/"+id, nil, root.access), 404, "not_found")
	expectProblem(t, e.call("GET", "/api/users/me", nil, s.access), 401, "invalid_token")
	expectProblem(t, e.call("DELETE", "/api/users/"+id, nil, root.access), 404, "not_found")
	expectProblem(t, e.call("PATCH", "/api/users/"+id, map[string]any{"name": "x"}, root.access), 404, "not_found")
}

func TestAdminLastAdminCannotLeave(t *testing.T) {
	e, rootID, root := adminEnv(t)
	e.register("mod@example.com", domain.RoleUser, domain.RoleModerator)
	for name, r := range map[string]response{
		"demote":  e.call("PATCH", "/api/users/"+rootID, map[string]any{"roles": []string{"user", "moderator"}}, root.access),
		"disable": e.call("PATCH", "/api/users/"+rootID, map[string]any{"disabled": true}, root.access),
		"delete":  e.call("DELETE", "/api/users/"+rootID, nil, root.access),
	} {
		t.Run(name, func(t *testing.T) { expectProblem(t, r, 409, "last_admin") })
	}
	expectStatus(t, e.call("GET", "/api/test/admin", nil, root.access), 200)
	u, err := e.users.ByID(context.Background(), rootID)
	if err != nil || u.Disabled || !u.HasRole(domain.RoleAdmin) {
		t.Fatalf("last admin changed: %+v, %v", u, err)
	}
	// A harmless change to the last admin is fine.
	expectStatus(t, e.call("PATCH", "/api/users/"+rootID, map[string]any{"name": "Root", "roles": []string{"admin"}}, root.access), 200)
}

func TestAdminPatchBody(t *testing.T) {
	e, _, root := adminEnv(t)
	id := e.register("target@example.com")
	cases := map[string]struct {
		body   string
		status int
		code   string
	}{
		"unknown field":         {`{"roles":["user"],"password_hash":"x"}`, 400, "invalid_body"},
		"email not settable":    {`{"email":"other@example.com"}`, 400, "invalid_body"},
		"wrong type":            {`{"disabled":"yes"}`, 400, "invalid_body"},
		"roles not a list":      {`{"roles":"admin"}`, 400, "invalid_body"},
		"duplicate key":         {`{"disabled":true,"disabled":false}`, 400, "malformed_json"},
		"malformed":             {`{"disabled":`, 400, "malformed_json"},
		"not an object":         {`[]`, 400, "invalid_body"},
		"unknown role":          {`{"roles":["superuser"]}`, 422, "validation_failed"},
		"name with control":     {`{"name":"a\u0000b"}`, 422, "validation_failed"},
		"name too long":         {`{"name":"` + strings.Repeat("n", 101) + `"}`, 422, "validation_failed"},
		"field names are exact": {`{"Disabled":true}`, 400, "invalid_body"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			expectProblem(t, e.call("PATCH", "/api/users/"+id, tc.body, root.access), tc.status, tc.code)
		})
	}
	u, _ := e.users.ByID(context.Background(), id)
	if u.Disabled || u.Email != "target@example.com" || len(u.Roles) != 1 {
		t.Fatalf("refused PATCH changed the user: %+v", u)
	}

	m := expectStatus(t, e.call("PATCH", "/api/users/"+id, `{"email_verified":true,"name":"Target Person","roles":null}`, root.access), 200)
	got := m["user"].(map[string]any)
	if got["email_verified"] != true || got["name"] != "Target Person" || fmt.Sprint(got["roles"]) != "[user]" {
		t.Fatalf("PATCH = %v", got)
	}
	expectStatus(t, e.call("PATCH", "/api/users/"+id, `{}`, root.access), 200)
}

func TestAdminAuditTrail(t *testing.T) {
	// The test connection's peer is 0.0.0.0; as a trusted proxy its X-Forwarded-For is believed.
	e, rootID, root := adminEnv(t, func(c *httpapi.Config) { c.TrustedProxies = []string{"0.0.0.0/32"} })
	id := e.register("subject@example.com")
	victim := e.login("subject@example.com")
	const ip, ua = "203.0.113.7", "admin-console/1.0 (test)"
	hdr := []string{"X-Forwarded-For", "198.51.100.1, " + ip, "User-Agent", ua}
	write := func(method string, body any) {
		t.Helper()
		r := e.call(method, "/api/users/"+id, body, root.access, hdr...)
		if r.StatusCode >= 300 {
			t.Fatalf("%s: %d %s", method, r.StatusCode, r.body)
		}
	}
	write("PATCH", map[string]any{"roles": []string{"moderator"}})
	write("PATCH", map[string]any{"email_verified": true})
	write("PATCH", map[string]any{"disabled": true})
	write("PATCH", map[string]any{"disabled": false})
	write("DELETE", nil)

	for _, ev := range []domain.AuditEvent{domain.EventRoleChange, domain.EventUserUpdate, domain.EventUserDisable,
		domain.EventUserEnable, domain.EventUserDelete} {
		t.Run(string(ev), func(t *testing.T) {
			q := url.Values{"user_id": {id}, "event": {string(ev)}}
			m := expectStatus(t, e.call("GET", "/api/audit?"+q.Encode(), nil, root.access), 200)
			events := m["events"].([]any)
			if len(events) != 1 || m["next_cursor"] != nil {
				t.Fatalf("want exactly one %s record: %v", ev, m)
			}
			r := events[0].(map[string]any)
			if r["event"] != string(ev) || r["actor_id"] != rootID || r["subject_id"] != id || r["outcome"] != "ok" ||
				r["ip"] != ip || r["user_agent"] != ua || r["id"] == "" || r["time"] == "" {
				t.Fatalf("record = %v", r)
			}
		})
	}
	t.Run("role change detail", func(t *testing.T) {
		m := expectStatus(t, e.call("GET", "/api/audit?event=role_change&user_id="+id, nil, root.access), 200)
		if d := m["events"].([]any)[0].(map[string]any)["detail"]; !strings.Contains(d.(string), "moderator") {
			t.Fatalf("detail = %v", d)
		}
	})

	t.Run("paging newest first", func(t *testing.T) {
		seen := map[string]bool{}
		var times []string
		cursor := ""
		for range 100 {
			path := "/api/audit?limit=2&user_id=" + id
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			m := expectStatus(t, e.call("GET", path, nil, root.access), 200)
			for _, r := range m["events"].([]any) {
				r := r.(map[string]any)
				if seen[r["id"].(string)] {
					t.Fatalf("record %v twice", r["id"])
				}
				seen[r["id"].(string)] = true
				times = append(times, r["time"].(string))
			}
			if m["next_cursor"] == nil {
				break
			}
			cursor = m["next_cursor"].(string)
		}
		// register + login of the subject, then the five admin writes.
		if len(seen) != 7 {
			t.Fatalf("paged %d records about the subject, want 7", len(seen))
		}
		if !slices.IsSortedFunc(times, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Fatalf("not newest first: %v", times)
		}
	})

	t.Run("bad query", func(t *testing.T) {
		for q, field := range map[string]string{
			"limit=0": "limit", "limit=500": "limit", "limit=x": "limit",
			"cursor=" + strings.Repeat("c", 65):   "cursor",
			"user_id=" + strings.Repeat("u", 200): "user_id",
			"event=" + strings.Repeat("e", 100):   "event",
		} {
			p := expectProblem(t, e.call("GET", "/api/audit?"+q, nil, root.access), 422, "validation_failed")
			if f := p["errors"].([]any)[0].(map[string]any); f["field"] != field {
				t.Fatalf("%s: errors = %v", q, p["errors"])
			}
		}
	})

	t.Run("no secrets", func(t *testing.T) {
		// A failed login and a password change also land in the trail.
		e.do(req("POST", "/api/auth/login", map[string]any{"email": "root@example.com", "password": "Wrong-Secret-123"}))
		expectStatus(t, e.call("PUT", "/api/users/me/password",
			map[string]any{"current_password": password, "new_password": "New-Secret-Passphrase-9"}, root.access), 204)
		recs, err := e.audit.List(context.Background(), domain.AuditQuery{Limit: 200})
		if err != nil || len(recs) < 10 {
			t.Fatalf("audit records: %d, %v", len(recs), err)
		}
		// The password change kept the admin's own session.
		api := expectStatus(t, e.call("GET", "/api/audit?limit=200", nil, root.access), 200)
		if len(api["events"].([]any)) != len(recs) {
			t.Fatalf("API shows %d records, store has %d", len(api["events"].([]any)), len(recs))
		}
		all := fmt.Sprintf("%+v %v", recs, api)
		for _, secret := range []string{password, "Wrong-Secret-123", "New-Secret-Passphrase-9", "fake$",
			root.access, root.refresh, victim.access, victim.refresh} {
			if strings.Contains(all, secret) {
				t.Fatalf("audit trail contains a secret %q", secret)
			}
		}
	})
}

func TestAdminAuditIPWithoutProxy(t *testing.T) {
	// An untrusted peer's X-Forwarded-For is not believed by the audit trail either.
	e, _, root := adminEnv(t)
	id := e.register("x@example.com")
	expectStatus(t, e.call("PATCH", "/api/users/"+id, map[string]any{"disabled": true}, root.access,
		"X-Forwarded-For", "203.0.113.66"), 200)
	m := expectStatus(t, e.call("GET", "/api/audit?event=user_disable", nil, root.access), 200)
	if r := m["events"].([]any)[0].(map[string]any); r["ip"] != "0.0.0.0" || r["user_agent"] != "" {
		t.Fatalf("record = %v", r)
	}
}
