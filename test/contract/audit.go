package contract

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// AuditLog runs the ports.AuditLog contract. open returns a log for each subtest and arranges its
// own cleanup; the suite tolerates records it did not append (its own name fresh user ids).
// Record ids are time-ordered UUIDv7s, so the newest record has the highest id; List returns
// records newest first, below the BeforeID cursor, clamped to 1..1000 per page (a guard; the API pages by at most 200 and asks for one more row). Oversized IP,
// user agent and detail are stored (cut to fit, if the adapter must), never refused.
func AuditLog(t *testing.T, open func(t *testing.T) ports.AuditLog) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, log ports.AuditLog)
	}{
		{"AppendListNewestFirst", auditNewestFirst},
		{"CursorPaging", auditPaging},
		{"FilterByUser", auditFilterUser},
		{"FilterByEvent", auditFilterEvent},
		{"LimitClamped", auditLimit},
		{"OversizedFieldsStored", auditOversized},
		{"DuplicateID", auditDuplicateID},
		{"ContextCancelled", auditContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// newRecord is a record with a fresh time-ordered id, by actor about subject.
func newRecord(t *testing.T, event domain.AuditEvent, actor, subject string) domain.AuditRecord {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return domain.AuditRecord{
		ID:        id.String(),
		Time:      now(),
		Event:     event,
		ActorID:   actor,
		SubjectID: subject,
		IP:        "203.0.113.9",
		UserAgent: "contract-test/1.0",
		Outcome:   "ok",
		Detail:    "roles=user,moderator",
	}
}

// appendShuffled appends records in random order (the log orders by id, not by arrival).
func appendShuffled(t *testing.T, log ports.AuditLog, recs []domain.AuditRecord) {
	t.Helper()
	shuffled := slices.Clone(recs)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, r := range shuffled {
		if err := log.Append(t.Context(), r); err != nil {
			t.Fatalf("Append(%s): %v", r.ID, err)
		}
	}
}

// newestFirst returns the ids of recs, highest first.
func newestFirst(recs []domain.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

func recordIDs(recs []domain.AuditRecord) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func listAudit(t *testing.T, log ports.AuditLog, q domain.AuditQuery) []domain.AuditRecord {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 200
	}
	got, err := log.List(t.Context(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].ID <= got[i].ID {
			t.Fatalf("List not newest first at %d: %s then %s", i, got[i-1].ID, got[i].ID)
		}
	}
	if q.BeforeID != "" && len(got) > 0 && got[0].ID >= q.BeforeID {
		t.Fatalf("List(BeforeID=%s) returned %s", q.BeforeID, got[0].ID)
	}
	return got
}

func wantRecord(t *testing.T, got, want domain.AuditRecord) {
	t.Helper()
	if !got.Time.Truncate(time.Millisecond).Equal(want.Time.Truncate(time.Millisecond)) || got.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v in UTC", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("record = %+v\nwant %+v", got, want)
	}
}

func auditNewestFirst(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	var recs []domain.AuditRecord
	for i := range 8 {
		r := newRecord(t, domain.EventLoginSuccess, user, user)
		r.Time = now().Add(time.Duration(i) * time.Second)
		recs = append(recs, r)
	}
	anon := newRecord(t, domain.EventLoginFailure, "", user)
	anon.Outcome, anon.Detail, anon.IP, anon.UserAgent = "bad_password", "", "", ""
	recs = append(recs, anon)
	appendShuffled(t, log, recs)

	got := listAudit(t, log, domain.AuditQuery{UserID: user})
	wantIDs(t, "List(user)", recordIDs(got), newestFirst(recs))
	byID := map[string]domain.AuditRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, g := range got {
		wantRecord(t, g, byID[g.ID])
	}
	// Unfiltered, ours are still there, newest first among whatever else the log holds.
	mine := map[string]bool{}
	for _, r := range recs {
		mine[r.ID] = true
	}
	var ours []string
	for _, g := range listAudit(t, log, domain.AuditQuery{}) {
		if mine[g.ID] {
			ours = append(ours, g.ID)
		}
	}
	wantIDs(t, "List() of ours", ours, newestFirst(recs))
}

func auditPaging(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	var recs []domain.AuditRecord
	for range 25 {
		recs = append(recs, newRecord(t, domain.EventLogout, user, ""))
	}
	appendShuffled(t, log, recs)
	for _, limit := range []int{1, 4, 24, 25, 26} {
		var all []string
		q := domain.AuditQuery{Limit: limit, UserID: user}
		for range 100 {
			page := listAudit(t, log, q)
			if len(page) > limit {
				t.Fatalf("page of %d, limit %d", len(page), limit)
			}
			all = append(all, recordIDs(page)...)
			if len(page) < limit {
				break
			}
			q.BeforeID = page[len(page)-1].ID
		}
		wantIDs(t, "paged ids", all, newestFirst(recs))
	}
	// A record appended after paging began is newer than every cursor: later pages never show it.
	first := listAudit(t, log, domain.AuditQuery{Limit: 5, UserID: user})
	late := newRecord(t, domain.EventLogout, user, "")
	if err := log.Append(t.Context(), late); err != nil {
		t.Fatal(err)
	}
	rest := listAudit(t, log, domain.AuditQuery{BeforeID: first[len(first)-1].ID, UserID: user})
	wantIDs(t, "pages after a late append", append(recordIDs(first), recordIDs(rest)...), newestFirst(recs))
}

func auditFilterUser(t *testing.T, log ports.AuditLog) {
	alice, bob, admin := uuid.NewString(), uuid.NewString(), uuid.NewString()
	self := newRecord(t, domain.EventPasswordChange, alice, alice)
	byAdmin := newRecord(t, domain.EventRoleChange, admin, alice)
	aliceActs := newRecord(t, domain.EventSessionRevoke, alice, bob)
	bobOnly := newRecord(t, domain.EventLogout, bob, bob)
	failed := newRecord(t, domain.EventLoginFailure, "", alice)
	appendShuffled(t, log, []domain.AuditRecord{self, byAdmin, aliceActs, bobOnly, failed})

	wantIDs(t, "List(alice)", recordIDs(listAudit(t, log, domain.AuditQuery{UserID: alice})),
		newestFirst([]domain.AuditRecord{self, byAdmin, aliceActs, failed}))
	wantIDs(t, "List(bob)", recordIDs(listAudit(t, log, domain.AuditQuery{UserID: bob})),
		newestFirst([]domain.AuditRecord{aliceActs, bobOnly}))
	wantIDs(t, "List(admin)", recordIDs(listAudit(t, log, domain.AuditQuery{UserID: admin})),
		newestFirst([]domain.AuditRecord{byAdmin}))
	wantIDs(t, "List(nobody)", recordIDs(listAudit(t, log, domain.AuditQuery{UserID: uuid.NewString()})), []string{})
	// A prefix of an id is not the id.
	wantIDs(t, "List(alice prefix)", recordIDs(listAudit(t, log, domain.AuditQuery{UserID: alice[:8]})), []string{})
}

func auditFilterEvent(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	var logins, all []domain.AuditRecord
	for i := range 9 {
		ev := []domain.AuditEvent{domain.EventLoginSuccess, domain.EventLoginFailure, domain.EventLogout}[i%3]
		r := newRecord(t, ev, user, user)
		if ev == domain.EventLoginSuccess {
			logins = append(logins, r)
		}
		all = append(all, r)
	}
	other := newRecord(t, domain.EventLoginSuccess, uuid.NewString(), "")
	appendShuffled(t, log, append(all, other))

	wantIDs(t, "List(user, login_success)",
		recordIDs(listAudit(t, log, domain.AuditQuery{UserID: user, Event: domain.EventLoginSuccess})), newestFirst(logins))
	got := listAudit(t, log, domain.AuditQuery{Event: domain.EventLoginSuccess})
	for _, r := range got {
		if r.Event != domain.EventLoginSuccess {
			t.Fatalf("List(login_success) returned a %s", r.Event)
		}
	}
	if ids := recordIDs(got); !slices.Contains(ids, other.ID) || !slices.Contains(ids, logins[0].ID) {
		t.Fatalf("List(login_success) = %v, missing %s or %s", ids, other.ID, logins[0].ID)
	}
	// Paging with both filters.
	q := domain.AuditQuery{Limit: 2, UserID: user, Event: domain.EventLoginSuccess}
	first := listAudit(t, log, q)
	q.BeforeID = first[len(first)-1].ID
	second := listAudit(t, log, q)
	wantIDs(t, "two filtered pages", append(recordIDs(first), recordIDs(second)...), newestFirst(logins))
	wantIDs(t, "List(user, key_rotation)",
		recordIDs(listAudit(t, log, domain.AuditQuery{UserID: user, Event: domain.EventKeyRotation})), []string{})
}

func auditLimit(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	for range 201 {
		if err := log.Append(t.Context(), newRecord(t, domain.EventLoginSuccess, user, user)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ limit, want int }{{-1, 1}, {0, 1}, {1, 1}, {7, 7}, {200, 200}, {201, 201}, {5000, 201}} {
		got, err := log.List(t.Context(), domain.AuditQuery{Limit: c.limit, UserID: user})
		if err != nil {
			t.Fatalf("List(Limit=%d): %v", c.limit, err)
		}
		if len(got) != c.want {
			t.Errorf("List(Limit=%d) returned %d records, want %d", c.limit, len(got), c.want)
		}
	}
}

// A hostile client's oversized header must not lose the event: the record is stored, its long
// fields kept in full or cut to a prefix.
func auditOversized(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	r := newRecord(t, domain.EventLoginFailure, "", user)
	r.IP = strings.Repeat("2001:db8::1,", 20)
	r.UserAgent = strings.Repeat("Mozilla/5.0 (Zoë) ", 200)
	r.Detail = strings.Repeat("détail ", 1000)
	if err := log.Append(t.Context(), r); err != nil {
		t.Fatalf("Append(oversized): %v", err)
	}
	got := listAudit(t, log, domain.AuditQuery{UserID: user})
	if len(got) != 1 {
		t.Fatalf("List = %v", recordIDs(got))
	}
	g := got[0]
	for name, pair := range map[string][2]string{
		"IP": {g.IP, r.IP}, "UserAgent": {g.UserAgent, r.UserAgent}, "Detail": {g.Detail, r.Detail},
	} {
		if pair[0] == "" || !strings.HasPrefix(pair[1], pair[0]) {
			t.Errorf("%s = %q, want a non-empty prefix of what was appended", name, pair[0])
		}
	}
	if g.ID != r.ID || g.Event != r.Event || g.SubjectID != user {
		t.Errorf("record = %+v", g)
	}
}

func auditDuplicateID(t *testing.T, log ports.AuditLog) {
	r := newRecord(t, domain.EventLogout, uuid.NewString(), "")
	if err := log.Append(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	again := r
	again.Event = domain.EventLogoutAll
	wantErr(t, "Append(same id)", log.Append(t.Context(), again), domain.ErrConflict)
	got := listAudit(t, log, domain.AuditQuery{UserID: r.ActorID})
	if len(got) != 1 || got[0].Event != domain.EventLogout {
		t.Fatalf("after a refused duplicate: %+v", got)
	}
}

func auditContextCancelled(t *testing.T, log ports.AuditLog) {
	user := uuid.NewString()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := log.Append(ctx, newRecord(t, domain.EventLogout, user, "")); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := log.List(ctx, domain.AuditQuery{Limit: 10}); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context = %v, want context.Canceled", err)
	}
	if got := listAudit(t, log, domain.AuditQuery{UserID: user}); len(got) != 0 {
		t.Fatalf("a record was appended under a cancelled context: %v", recordIDs(got))
	}
}
