package contract

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// UserDirectory runs the ports.UserDirectory contract. open returns, for each subtest, a user
// store and the directory over the same users, and arranges its own cleanup. The suite tolerates
// users it did not create (it marks its own with fresh tokens and ignores the rest), but no other
// test may change the admins of the store while a subtest runs. Pages are in (CreatedAt, ID)
// order; Q is a literal, case-insensitive substring of email, username or name (ASCII letters are
// enough: SQLite folds nothing else); Role matches one whole role; Limit is clamped to 1..1000 (a guard; the API pages by at most 200 and asks for one more row).
func UserDirectory(t *testing.T, open func(t *testing.T) (ports.UserStore, ports.UserDirectory)) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.UserStore, dir ports.UserDirectory)
	}{
		{"PagesVisitEveryUserOnceInOrder", dirPaging},
		{"PagingStableUnderConcurrentInserts", dirPagingConcurrent},
		{"QueryMatchesSubstringsCaseInsensitively", dirQuery},
		{"QueryTakesWildcardsLiterally", dirQueryLiteral},
		{"RoleFilterIsExact", dirRole},
		{"DisabledFilter", dirDisabled},
		{"FiltersCombineWithCursor", dirFiltersWithCursor},
		{"LimitClamped", dirLimit},
		{"CountActiveAdmins", dirCountAdmins},
		{"ContextCancelled", dirContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, dir := open(t)
			c.run(t, st, dir)
		})
	}
}

// token is a fresh lower-case tag of 10 hex digits, for marking a subtest's users.
func token() string { return strings.ReplaceAll(uuid.NewString(), "-", "")[:10] }

// dirUser is a valid user with a time-ordered (UUIDv7) id, unique email and username, and the
// given name, created at at.
func dirUser(t *testing.T, at time.Time, name string) domain.User {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(at)
	u.ID = id.String()
	tail := strings.ReplaceAll(u.ID, "-", "")[20:] // the random end; a v7 id starts with the time
	u.Email = "d-" + tail + "@example.com"
	u.Username = "d_" + tail
	u.Name = name
	return u
}

// userKeyCmp orders users as the directory does: by CreatedAt, then ID.
func userKeyCmp(a, b domain.User) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// pageAll lists every user matching q, page by page with q.Limit, and fails on a page that is
// out of order or larger than the limit. between, if set, runs after each page.
func pageAll(t *testing.T, dir ports.UserDirectory, q domain.UserQuery, between func()) []domain.User {
	t.Helper()
	var all []domain.User
	for range 100_000 {
		page, err := dir.List(t.Context(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if len(page) > q.Limit {
			t.Fatalf("List returned %d users, limit %d", len(page), q.Limit)
		}
		for i, u := range page {
			if i > 0 && userKeyCmp(page[i-1], u) >= 0 {
				t.Fatalf("page out of (CreatedAt, ID) order at %d: %s@%v then %s@%v",
					i, page[i-1].ID, page[i-1].CreatedAt, u.ID, u.CreatedAt)
			}
		}
		if len(all) > 0 && len(page) > 0 && userKeyCmp(all[len(all)-1], page[0]) >= 0 {
			t.Fatalf("page starts at or before the cursor: %s then %s", all[len(all)-1].ID, page[0].ID)
		}
		all = append(all, page...)
		if len(page) < q.Limit {
			return all
		}
		last := page[len(page)-1]
		q.AfterCreatedAt, q.AfterID = last.CreatedAt, last.ID
		if between != nil {
			between()
		}
	}
	t.Fatal("paging did not end")
	return nil
}

// ids returns the ids of users, keeping only those in keep (all when keep is nil).
func ids(users []domain.User, keep map[string]bool) []string {
	out := []string{}
	for _, u := range users {
		if keep == nil || keep[u.ID] {
			out = append(out, u.ID)
		}
	}
	return out
}

// seedUsers creates n users named name, in shuffled order, created at base plus a few
// milliseconds each, with ties (equal CreatedAt, ordered by ID), and returns them sorted as the
// directory orders them.
func seedUsers(t *testing.T, st ports.UserStore, n int, base time.Time, name string) []domain.User {
	t.Helper()
	users := make([]domain.User, n)
	for i := range users {
		users[i] = dirUser(t, base.Add(time.Duration(i/3)*time.Millisecond), name)
	}
	// Ties broken by id: give some users a later id but an earlier time than their neighbours.
	for i := 0; i+4 < n; i += 5 {
		users[i].CreatedAt, users[i+4].CreatedAt = users[i+4].CreatedAt, users[i].CreatedAt
		users[i].UpdatedAt = users[i].CreatedAt
		users[i+4].UpdatedAt = users[i+4].CreatedAt
	}
	shuffled := slices.Clone(users)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, u := range shuffled {
		mustCreateUser(t, st, u)
	}
	slices.SortFunc(users, userKeyCmp)
	return users
}

func idSet(users []domain.User) map[string]bool {
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u.ID] = true
	}
	return m
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v\nwant %v", what, got, want)
	}
}

func dirPaging(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	users := seedUsers(t, st, 23, now().Add(-time.Hour), "Pager "+token())
	mine := idSet(users)
	for _, limit := range []int{1, 2, 5, 7, 22, 23, 24, 200} {
		all := pageAll(t, dir, domain.UserQuery{Limit: limit}, nil)
		if got := ids(all, nil); len(got) != len(idSet(all)) {
			t.Fatalf("limit %d: a user was listed twice: %v", limit, got)
		}
		wantIDs(t, "limit "+strconv.Itoa(limit)+": our users", ids(all, mine), ids(users, nil))
	}
	// Users come back whole.
	page, err := dir.List(t.Context(), domain.UserQuery{Limit: 200, Q: users[0].Email})
	if err != nil || len(page) != 1 {
		t.Fatalf("List(Q=email) = %v, %v", ids(page, nil), err)
	}
	wantUser(t, page[0], users[0])
}

// Users inserted while an administrator pages — newer ones, and ones back-dated into pages
// already read or still to come — never make a page repeat or skip a user that existed before.
func dirPagingConcurrent(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	base := now().Add(-time.Hour)
	users := seedUsers(t, st, 40, base, "Before "+token())
	// The inserter adds a bounded number of users, so paging (which sees the newer ones) ends.
	const extra = 60
	var (
		wg     sync.WaitGroup
		insErr error
	)
	wg.Go(func() {
		for i := range extra {
			at := now()
			if i%2 == 1 { // back-dated among the existing users, ties included
				at = base.Add(time.Duration(rand.IntN(15)) * time.Millisecond)
			}
			if err := st.Create(context.Background(), dirUser(t, at, "During")); err != nil {
				insErr = err
				return
			}
		}
	})
	all := pageAll(t, dir, domain.UserQuery{Limit: 3}, func() { time.Sleep(time.Millisecond) })
	wg.Wait()
	if insErr != nil {
		t.Fatalf("concurrent Create: %v", insErr)
	}
	if got := ids(all, nil); len(got) != len(idSet(all)) {
		t.Fatalf("a user was listed twice")
	}
	wantIDs(t, "users that existed before paging", ids(all, idSet(users)), ids(users, nil))
}

func list(t *testing.T, dir ports.UserDirectory, q domain.UserQuery) []domain.User {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 200
	}
	got, err := dir.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return got
}

func dirQuery(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	tok := token()
	at := now().Add(-time.Minute)
	byEmail := dirUser(t, at, "Plain")
	byEmail.Email = "mail." + tok + "@example.com"
	byUsername := dirUser(t, at.Add(time.Millisecond), "Plain")
	byUsername.Username = "un_" + tok
	byName := dirUser(t, at.Add(2*time.Millisecond), "Mixed "+strings.ToUpper(tok)+" Name")
	other := dirUser(t, at.Add(3*time.Millisecond), "Plain")
	noUsername := dirUser(t, at.Add(4*time.Millisecond), "Another "+tok)
	noUsername.Username = ""
	for _, u := range []domain.User{byEmail, byUsername, byName, other, noUsername} {
		mustCreateUser(t, st, u)
	}
	for _, q := range []string{tok, strings.ToUpper(tok), tok[2:7], strings.ToUpper(tok[:1]) + tok[1:]} {
		wantIDs(t, "Q="+q, ids(list(t, dir, domain.UserQuery{Q: q}), nil),
			[]string{byEmail.ID, byUsername.ID, byName.ID, noUsername.ID})
	}
	wantIDs(t, "Q=email", ids(list(t, dir, domain.UserQuery{Q: "MAIL." + strings.ToUpper(tok) + "@"}), nil),
		[]string{byEmail.ID})
	wantIDs(t, "Q=username", ids(list(t, dir, domain.UserQuery{Q: "UN_" + tok}), nil), []string{byUsername.ID})
	wantIDs(t, "Q=name", ids(list(t, dir, domain.UserQuery{Q: "mixed " + tok + " name"}), nil), []string{byName.ID})
	wantIDs(t, "Q=nobody", ids(list(t, dir, domain.UserQuery{Q: "nobody-" + token()}), nil), []string{})
}

// % and _ (and the escape characters a store might use) match themselves only.
func dirQueryLiteral(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	tok := token()
	at := now().Add(-time.Minute)
	mk := func(i int, name, username string) domain.User {
		u := dirUser(t, at.Add(time.Duration(i)*time.Millisecond), tok+name)
		if username != "" {
			u.Username = tok + username
		}
		mustCreateUser(t, st, u)
		return u
	}
	percent := mk(0, " 50% off", "")
	percentLike := mk(1, " 50x off", "")
	under := mk(2, "", "a_b")
	underLike := mk(3, "", "axb")
	bang := mk(4, " wow!x", "")
	bangLike := mk(5, " wow!!x", "")
	slash := mk(6, ` back\slash`, "")
	slashLike := mk(7, ` backslash`, "")
	cases := []struct {
		q    string
		want []domain.User
	}{
		{tok + " 50%", []domain.User{percent}},
		{tok + " 50%o", nil},
		{"%", []domain.User{percent}},
		{tok + "a_b", []domain.User{under}},
		{tok + "a_", []domain.User{under}},
		{"!x", []domain.User{bang, bangLike}},
		{"!!x", []domain.User{bangLike}},
		{`k\s`, []domain.User{slash}},
		{`\`, []domain.User{slash}},
	}
	for _, c := range cases {
		mine := idSet([]domain.User{percent, percentLike, under, underLike, bang, bangLike, slash, slashLike})
		wantIDs(t, "Q="+c.q, ids(list(t, dir, domain.UserQuery{Q: c.q}), mine), ids(c.want, nil))
	}
}

func dirRole(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	tok := token()
	at := now().Add(-time.Minute)
	mk := func(i int, roles ...domain.Role) domain.User {
		u := dirUser(t, at.Add(time.Duration(i)*time.Millisecond), "Role "+tok)
		u.Roles = roles
		mustCreateUser(t, st, u)
		return u
	}
	plain := mk(0, domain.RoleUser)
	adminLast := mk(1, domain.RoleUser, domain.RoleModerator, domain.RoleAdmin)
	adminFirst := mk(2, domain.RoleAdmin, domain.RoleUser)
	adminOnly := mk(3, domain.RoleAdmin)
	super := mk(4, domain.RoleUser, "superadmin")
	admins := mk(5, "admins", domain.RoleModerator)
	none := mk(6)
	cases := []struct {
		role domain.Role
		want []domain.User
	}{
		{domain.RoleAdmin, []domain.User{adminLast, adminFirst, adminOnly}},
		{domain.RoleModerator, []domain.User{adminLast, admins}},
		{domain.RoleUser, []domain.User{plain, adminLast, adminFirst, super}},
		{"superadmin", []domain.User{super}},
		{"min", nil},
		{"Admin", nil},
		{"admi_", nil},
		{"adm%", nil},
		{"user,admin", nil},
		{"", []domain.User{plain, adminLast, adminFirst, adminOnly, super, admins, none}},
	}
	for _, c := range cases {
		wantIDs(t, "Role="+string(c.role), ids(list(t, dir, domain.UserQuery{Q: tok, Role: c.role}), nil), ids(c.want, nil))
	}
}

func dirDisabled(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	tok := token()
	at := now().Add(-time.Minute)
	var enabled, disabled []domain.User
	for i := range 6 {
		u := dirUser(t, at.Add(time.Duration(i)*time.Millisecond), "Flag "+tok)
		u.Disabled = i%3 == 0
		mustCreateUser(t, st, u)
		if u.Disabled {
			disabled = append(disabled, u)
		} else {
			enabled = append(enabled, u)
		}
	}
	yes, no := true, false
	wantIDs(t, "Disabled=true", ids(list(t, dir, domain.UserQuery{Q: tok, Disabled: &yes}), nil), ids(disabled, nil))
	wantIDs(t, "Disabled=false", ids(list(t, dir, domain.UserQuery{Q: tok, Disabled: &no}), nil), ids(enabled, nil))
	all := slices.Concat(enabled, disabled)
	slices.SortFunc(all, userKeyCmp)
	wantIDs(t, "Disabled=nil", ids(list(t, dir, domain.UserQuery{Q: tok}), nil), ids(all, nil))

	// A later Update is what the filter sees.
	u := enabled[0]
	u.Disabled = true
	if _, err := st.Update(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if got := ids(list(t, dir, domain.UserQuery{Q: tok, Disabled: &yes}), nil); !slices.Contains(got, u.ID) {
		t.Fatalf("Disabled=true after Update = %v, want it to hold %s", got, u.ID)
	}
}

func dirFiltersWithCursor(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	tok := token()
	users := seedUsers(t, st, 17, now().Add(-time.Minute), "Combo "+tok)
	var want []domain.User
	for i, u := range users {
		if i%2 == 0 {
			u.Roles = []domain.Role{domain.RoleUser, domain.RoleModerator}
			if _, err := st.Update(t.Context(), u); err != nil {
				t.Fatal(err)
			}
			want = append(want, u)
		}
	}
	got := pageAll(t, dir, domain.UserQuery{Limit: 2, Q: strings.ToUpper(tok), Role: domain.RoleModerator}, nil)
	wantIDs(t, "paged moderators", ids(got, nil), ids(want, nil))
}

func dirLimit(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	seedUsers(t, st, 201, now().Add(-time.Minute), "Many "+token())
	for _, c := range []struct{ limit, want int }{{-5, 1}, {0, 1}, {1, 1}, {3, 3}, {200, 200}, {201, 201}, {10_000, 201}} {
		got, err := dir.List(t.Context(), domain.UserQuery{Limit: c.limit})
		if err != nil {
			t.Fatalf("List(Limit=%d): %v", c.limit, err)
		}
		if len(got) != c.want {
			t.Errorf("List(Limit=%d) returned %d users, want %d", c.limit, len(got), c.want)
		}
	}
}

func dirCountAdmins(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	count := func() int {
		t.Helper()
		n, err := dir.CountActiveAdmins(t.Context())
		if err != nil {
			t.Fatalf("CountActiveAdmins: %v", err)
		}
		return n
	}
	before := count()
	at := now()
	mk := func(disabled bool, roles ...domain.Role) domain.User {
		u := dirUser(t, at, "Admin count")
		u.Roles, u.Disabled = roles, disabled
		mustCreateUser(t, st, u)
		return u
	}
	a := mk(false, domain.RoleUser, domain.RoleAdmin)
	mk(false, domain.RoleAdmin)
	mk(true, domain.RoleAdmin)               // disabled admins don't count
	mk(false, domain.RoleUser, "superadmin") // nor a role that merely contains "admin"
	mk(false, domain.RoleModerator, domain.RoleUser)
	if got := count(); got != before+2 {
		t.Fatalf("CountActiveAdmins = %d, want %d", got, before+2)
	}
	a.Disabled = true
	if _, err := st.Update(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != before+1 {
		t.Fatalf("CountActiveAdmins after disabling one = %d, want %d", got, before+1)
	}
	if err := st.Delete(t.Context(), a.ID); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != before+1 {
		t.Fatalf("CountActiveAdmins after deleting a disabled one = %d, want %d", got, before+1)
	}
}

func dirContextCancelled(t *testing.T, st ports.UserStore, dir ports.UserDirectory) {
	mustCreateUser(t, st, dirUser(t, now(), "Cancelled"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := dir.List(ctx, domain.UserQuery{Limit: 10}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := dir.CountActiveAdmins(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("CountActiveAdmins with a cancelled context = %v, want context.Canceled", err)
	}
}
