package contract

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Session limits and grace used by the session contract; real values, so that sessions the
// suite means to be live stay live in stores that expire keys by the server's clock.
const (
	contractIdle     = 7 * 24 * time.Hour
	contractAbsolute = 30 * 24 * time.Hour
	contractGrace    = 10 * time.Second
)

// SessionStore runs the ports.SessionStore contract. open must return an empty store (or one
// whose other content cannot collide: the suite uses fresh UUIDs) for each subtest, and arrange
// its own cleanup with t.Cleanup. Times are compared at millisecond precision and must come
// back in UTC.
func SessionStore(t *testing.T, open func(t *testing.T) ports.SessionStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, st ports.SessionStore)
	}{
		{"CreateGetRoundTrip", sessionRoundTrip},
		{"GetMissing", sessionGetMissing},
		{"ExpiredByIdle", sessionExpiredByIdle},
		{"ExpiredByAbsolute", sessionExpiredByAbsolute},
		{"ExpiredAtRotationTime", sessionExpiredAtRotationTime},
		{"RotateNormal", sessionRotateNormal},
		{"RotateCapsIdleAtAbsolute", sessionRotateCapsIdle},
		{"GraceReplay", sessionGraceReplay},
		{"ReplayAfterGrace", sessionReplayAfterGrace},
		{"TwoGenerationsOld", sessionTwoGenerationsOld},
		{"ForgedTokenRefused", sessionForgedToken},
		{"RetiredTokensRevoke", sessionRetiredTokensRevoke},
		{"RingForgetsOldest", sessionRingForgetsOldest},
		{"RotationFollowsTheDomainRule", sessionRotationTable},
		{"RotateMissing", sessionRotateMissing},
		{"ConcurrentRotate", sessionConcurrentRotate},
		{"ListByUser", sessionListByUser},
		{"DeleteIdempotent", sessionDeleteIdempotent},
		{"DeleteByUser", sessionDeleteByUser},
		{"SetRoles", sessionSetRoles},
		{"ContextCancelled", sessionContextCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

// now is the suite's reference time: the wall clock truncated to the millisecond, in UTC.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// newSession is a fresh session of userID created at at, with the default limits.
func newSession(userID string, at time.Time) domain.Session {
	return domain.Session{
		ID:            uuid.NewString(),
		UserID:        userID,
		Roles:         []domain.Role{domain.RoleUser},
		RefreshHash:   randomBytes(32),
		CreatedAt:     at,
		LastUsedAt:    at,
		IdleExpiresAt: at.Add(contractIdle),
		AbsExpiresAt:  at.Add(contractAbsolute),
		IP:            "192.0.2.10",
		UserAgent:     "contract/1.0 (Üñïçødé)",
		AMR:           []string{domain.AMRPassword},
	}
}

// rotation presents presented for s at at, with a fresh successor.
func rotation(s domain.Session, presented []byte, at time.Time) domain.Rotation {
	return domain.Rotation{
		SessionID:     s.ID,
		PresentedHash: presented,
		NewHash:       randomBytes(32),
		Successor:     randomBytes(72),
		Now:           at,
		Grace:         contractGrace,
		IdleTTL:       contractIdle,
	}
}

func mustCreate(t *testing.T, st ports.SessionStore, s domain.Session) {
	t.Helper()
	if err := st.Create(t.Context(), s, now()); err != nil {
		t.Fatalf("Create(%s): %v", s.ID, err)
	}
}

func mustGet(t *testing.T, st ports.SessionStore, id string) domain.Session {
	t.Helper()
	s, err := st.Get(t.Context(), id, now())
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return s
}

func wantGone(t *testing.T, st ports.SessionStore, id string) {
	t.Helper()
	if _, err := st.Get(t.Context(), id, now()); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, want domain.ErrNotFound", id, err)
	}
}

func mustRotate(t *testing.T, st ports.SessionStore, r domain.Rotation, want domain.RotateOutcome) domain.Session {
	t.Helper()
	got, s, err := st.Rotate(t.Context(), r)
	if err != nil {
		t.Fatalf("Rotate(%s): %v", r.SessionID, err)
	}
	if got != want {
		t.Fatalf("Rotate(%s) outcome = %d, want %d", r.SessionID, got, want)
	}
	return s
}

func wantRotateErr(t *testing.T, st ports.SessionStore, r domain.Rotation, want error) {
	t.Helper()
	if _, _, err := st.Rotate(t.Context(), r); !errors.Is(err, want) {
		t.Fatalf("Rotate(%s) = %v, want %v", r.SessionID, err, want)
	}
}

func listIDs(t *testing.T, st ports.SessionStore, userID string, at time.Time) []string {
	t.Helper()
	list, err := st.ListByUser(t.Context(), userID, at)
	if err != nil {
		t.Fatalf("ListByUser(%s): %v", userID, err)
	}
	ids := make([]string, len(list))
	for i, s := range list {
		if s.UserID != userID {
			t.Errorf("ListByUser(%s) returned session %s of user %s", userID, s.ID, s.UserID)
		}
		ids[i] = s.ID
	}
	return ids
}

// assertSession compares every field, times at millisecond precision; non-zero times must be UTC.
func assertSession(t *testing.T, got, want domain.Session) {
	t.Helper()
	str := func(name, g, w string) {
		if g != w {
			t.Errorf("%s = %q, want %q", name, g, w)
		}
	}
	byt := func(name string, g, w []byte) {
		if !bytes.Equal(g, w) {
			t.Errorf("%s = %x, want %x", name, g, w)
		}
	}
	tim := func(name string, g, w time.Time) {
		w = w.Truncate(time.Millisecond)
		switch {
		case w.IsZero() && !g.IsZero():
			t.Errorf("%s = %v, want the zero time", name, g)
		case w.IsZero():
		case !g.Equal(w):
			t.Errorf("%s = %v, want %v", name, g, w)
		case g.Location() != time.UTC:
			t.Errorf("%s location = %v, want UTC", name, g.Location())
		}
	}
	str("ID", got.ID, want.ID)
	str("UserID", got.UserID, want.UserID)
	if !slices.Equal(got.Roles, want.Roles) {
		t.Errorf("Roles = %v, want %v", got.Roles, want.Roles)
	}
	if !slices.Equal(got.AMR, want.AMR) {
		t.Errorf("AMR = %v, want %v", got.AMR, want.AMR)
	}
	byt("RefreshHash", got.RefreshHash, want.RefreshHash)
	byt("PrevHash", got.PrevHash, want.PrevHash)
	byt("Retired", got.Retired, want.Retired)
	byt("Successor", got.Successor, want.Successor)
	tim("RotatedAt", got.RotatedAt, want.RotatedAt)
	if got.Generation != want.Generation {
		t.Errorf("Generation = %d, want %d", got.Generation, want.Generation)
	}
	tim("CreatedAt", got.CreatedAt, want.CreatedAt)
	tim("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	tim("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	tim("AbsExpiresAt", got.AbsExpiresAt, want.AbsExpiresAt)
	str("IP", got.IP, want.IP)
	str("UserAgent", got.UserAgent, want.UserAgent)
}

func sessionRoundTrip(t *testing.T, st ports.SessionStore) {
	base := now()
	fresh := newSession(uuid.NewString(), base)

	rotated := newSession(uuid.NewString(), base.Add(-time.Hour))
	rotated.Roles = []domain.Role{domain.RoleUser, domain.RoleAdmin}
	rotated.PrevHash = randomBytes(32)
	rotated.Retired = randomBytes(2 * domain.HashSize)
	rotated.Successor = randomBytes(72)
	rotated.RotatedAt = base.Add(-time.Minute)
	rotated.LastUsedAt = base.Add(-time.Minute)
	rotated.Generation = 3
	rotated.IdleExpiresAt = base.Add(contractIdle - time.Minute)
	rotated.IP = "2001:db8::1"
	rotated.AMR = []string{domain.AMRPassword, domain.AMROTP}

	for _, s := range []domain.Session{fresh, rotated} {
		mustCreate(t, st, s)
	}
	for _, s := range []domain.Session{fresh, rotated} {
		assertSession(t, mustGet(t, st, s.ID), s)
	}
}

func sessionGetMissing(t *testing.T, st ports.SessionStore) {
	wantGone(t, st, uuid.NewString())
}

func sessionExpiredByIdle(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base.Add(-2*time.Hour))
	s.IdleExpiresAt = base.Add(-time.Second)
	s.AbsExpiresAt = base.Add(time.Hour)
	mustCreate(t, st, s)
	wantGone(t, st, s.ID)
	wantRotateErr(t, st, rotation(s, s.RefreshHash, base), domain.ErrNotFound)
	if ids := listIDs(t, st, s.UserID, base); len(ids) != 0 {
		t.Fatalf("ListByUser = %v, want none", ids)
	}
}

func sessionExpiredByAbsolute(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base.Add(-contractAbsolute))
	s.IdleExpiresAt = base.Add(time.Hour)
	s.AbsExpiresAt = base.Add(-time.Second)
	mustCreate(t, st, s)
	wantGone(t, st, s.ID)
	wantRotateErr(t, st, rotation(s, s.RefreshHash, base), domain.ErrNotFound)
	if ids := listIDs(t, st, s.UserID, base); len(ids) != 0 {
		t.Fatalf("ListByUser = %v, want none", ids)
	}
}

// sessionExpiredAtRotationTime: Rotate and ListByUser judge expiry by the time they are given.
func sessionExpiredAtRotationTime(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	s.IdleExpiresAt = base.Add(time.Hour)
	mustCreate(t, st, s)
	later := base.Add(2 * time.Hour)
	wantRotateErr(t, st, rotation(s, s.RefreshHash, later), domain.ErrNotFound)
	if ids := listIDs(t, st, s.UserID, later); len(ids) != 0 {
		t.Fatalf("ListByUser at idle+1h = %v, want none", ids)
	}
	if ids := listIDs(t, st, s.UserID, base); !slices.Equal(ids, []string{s.ID}) {
		t.Fatalf("ListByUser now = %v, want [%s]", ids, s.ID)
	}
}

func sessionRotateNormal(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	r := rotation(s, s.RefreshHash, base.Add(time.Second))
	r.IdleTTL = time.Hour
	got := mustRotate(t, st, r, domain.Rotated)

	want := s
	want.PrevHash = s.RefreshHash
	want.RefreshHash = r.NewHash
	want.Successor = r.Successor
	want.RotatedAt = r.Now
	want.LastUsedAt = r.Now
	want.Generation = 1
	want.IdleExpiresAt = r.Now.Add(time.Hour)
	assertSession(t, got, want)
	assertSession(t, mustGet(t, st, s.ID), want)

	// The new token rotates again; the old one is now only a grace replay.
	r2 := rotation(s, r.NewHash, base.Add(2*time.Second))
	got = mustRotate(t, st, r2, domain.Rotated)
	if got.Generation != 2 || !bytes.Equal(got.PrevHash, r.NewHash) || !bytes.Equal(got.RefreshHash, r2.NewHash) {
		t.Fatalf("second rotation: generation %d prev %x current %x", got.Generation, got.PrevHash, got.RefreshHash)
	}
}

func sessionRotateCapsIdle(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	s.AbsExpiresAt = base.Add(time.Hour)
	s.IdleExpiresAt = base.Add(time.Hour)
	mustCreate(t, st, s)
	got := mustRotate(t, st, rotation(s, s.RefreshHash, base.Add(time.Second)), domain.Rotated)
	if !got.IdleExpiresAt.Equal(s.AbsExpiresAt) || !got.AbsExpiresAt.Equal(s.AbsExpiresAt) {
		t.Fatalf("idle %v abs %v, want both %v", got.IdleExpiresAt, got.AbsExpiresAt, s.AbsExpiresAt)
	}
	if g := mustGet(t, st, s.ID); !g.IdleExpiresAt.Equal(s.AbsExpiresAt) {
		t.Fatalf("Get: idle %v, want %v", g.IdleExpiresAt, s.AbsExpiresAt)
	}
}

func sessionGraceReplay(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	r := rotation(s, s.RefreshHash, base.Add(time.Second))
	after := mustRotate(t, st, r, domain.Rotated)

	for _, at := range []time.Time{r.Now, r.Now.Add(contractGrace / 2), r.Now.Add(contractGrace)} {
		replay := rotation(s, s.RefreshHash, at)
		got := mustRotate(t, st, replay, domain.GraceReplay)
		assertSession(t, got, after)
		if !bytes.Equal(got.Successor, r.Successor) {
			t.Fatalf("replay at +%v: successor differs from the rotation's", at.Sub(r.Now))
		}
		assertSession(t, mustGet(t, st, s.ID), after)
	}
	// The current token still rotates after replays.
	mustRotate(t, st, rotation(s, r.NewHash, r.Now.Add(contractGrace)), domain.Rotated)
}

func sessionReplayAfterGrace(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	r := rotation(s, s.RefreshHash, base.Add(time.Second))
	mustRotate(t, st, r, domain.Rotated)
	wantRotateErr(t, st, rotation(s, s.RefreshHash, r.Now.Add(contractGrace+time.Millisecond)), domain.ErrRefreshReuse)
	wantGone(t, st, s.ID)
	wantRotateErr(t, st, rotation(s, r.NewHash, r.Now.Add(contractGrace+2*time.Millisecond)), domain.ErrNotFound)
	if ids := listIDs(t, st, s.UserID, base); len(ids) != 0 {
		t.Fatalf("ListByUser = %v, want none", ids)
	}
}

func sessionTwoGenerationsOld(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	r1 := rotation(s, s.RefreshHash, base.Add(time.Second))
	mustRotate(t, st, r1, domain.Rotated)
	r2 := rotation(s, r1.NewHash, base.Add(2*time.Second))
	mustRotate(t, st, r2, domain.Rotated)
	// Well inside the grace window, but not the immediate predecessor.
	wantRotateErr(t, st, rotation(s, s.RefreshHash, base.Add(3*time.Second)), domain.ErrRefreshReuse)
	wantGone(t, st, s.ID)
}

// sessionForgedToken: the session id is not secret (it is the sid claim of every access
// token), so a token made of it and any other secret must be refused without ending the session.
func sessionForgedToken(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	// Before any rotation, and after two (with a predecessor and a ring), inside and beyond grace.
	wantRotateErr(t, st, rotation(s, randomBytes(32), base.Add(time.Second)), domain.ErrNotFound)
	assertSession(t, mustGet(t, st, s.ID), s)

	r1 := rotation(s, s.RefreshHash, base.Add(2*time.Second))
	mustRotate(t, st, r1, domain.Rotated)
	r2 := rotation(s, r1.NewHash, base.Add(3*time.Second))
	after := mustRotate(t, st, r2, domain.Rotated)
	for _, at := range []time.Time{r2.Now, r2.Now.Add(time.Minute)} {
		for _, forged := range [][]byte{randomBytes(32), randomBytes(31), nil} {
			if _, _, err := st.Rotate(t.Context(), rotation(s, forged, at)); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("forged token (%d bytes) at +%v: Rotate = %v, want domain.ErrNotFound", len(forged), at.Sub(r2.Now), err)
			}
			assertSession(t, mustGet(t, st, s.ID), after)
		}
	}
	if ids := listIDs(t, st, s.UserID, base); !slices.Equal(ids, []string{s.ID}) {
		t.Fatalf("ListByUser = %v, want [%s]", ids, s.ID)
	}
	// The real token still rotates, and the session's own retired tokens still revoke it.
	r3 := rotation(s, r2.NewHash, r2.Now.Add(time.Minute))
	mustRotate(t, st, r3, domain.Rotated)
	wantRotateErr(t, st, rotation(s, s.RefreshHash, r3.Now.Add(time.Second)), domain.ErrRefreshReuse)
	wantGone(t, st, s.ID)
}

// rotateN creates a session at base and rotates it n times a second apart; it returns the
// session as created, the session after the last rotation and every token hash it issued,
// oldest first (hashes[n] is current).
func rotateN(t *testing.T, st ports.SessionStore, base time.Time, n int) (domain.Session, domain.Session, [][]byte) {
	t.Helper()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	hashes := [][]byte{s.RefreshHash}
	last := s
	for i := 1; i <= n; i++ {
		r := rotation(s, hashes[i-1], base.Add(time.Duration(i)*time.Second))
		last = mustRotate(t, st, r, domain.Rotated)
		hashes = append(hashes, r.NewHash)
		// The ring holds the hashes retired before the predecessor, newest first, at most
		// domain.RetiredRing of them.
		var want []byte
		for j := i - 2; j >= 0 && j > i-2-domain.RetiredRing; j-- {
			want = append(want, hashes[j]...)
		}
		for _, got := range []domain.Session{last, mustGet(t, st, s.ID)} {
			if len(got.Retired) > domain.RetiredRing*domain.HashSize {
				t.Fatalf("rotation %d: Retired holds %d bytes, more than %d hashes", i, len(got.Retired), domain.RetiredRing)
			}
			if !bytes.Equal(got.Retired, want) || !bytes.Equal(got.PrevHash, hashes[i-1]) || !bytes.Equal(got.RefreshHash, r.NewHash) {
				t.Fatalf("rotation %d: Retired %d bytes (want %d), predecessor or current not as rotated", i, len(got.Retired), len(want))
			}
		}
	}
	return s, last, hashes
}

// sessionRetiredTokensRevoke: after three rotations each of the three retired tokens, presented
// beyond the grace window, revokes the session (the predecessor and the two in the ring).
func sessionRetiredTokensRevoke(t *testing.T, st ports.SessionStore) {
	base := now()
	for old := range 3 {
		s, _, hashes := rotateN(t, st, base, 3)
		late := base.Add(3*time.Second + contractGrace + time.Millisecond)
		_, revoked, err := st.Rotate(t.Context(), rotation(s, hashes[old], late))
		if !errors.Is(err, domain.ErrRefreshReuse) {
			t.Fatalf("token %d of 3: Rotate = %v, want domain.ErrRefreshReuse", old, err)
		}
		if revoked.ID != s.ID || revoked.UserID != s.UserID {
			t.Fatalf("token %d of 3: revoked session %q of %q, want %q of %q", old, revoked.ID, revoked.UserID, s.ID, s.UserID)
		}
		wantGone(t, st, s.ID)
		wantRotateErr(t, st, rotation(s, hashes[3], late), domain.ErrNotFound)
	}
}

// sessionRingForgetsOldest: after 20 rotations the ring remembers the 16 tokens retired before
// the predecessor; an older one is refused (domain.ErrNotFound) without revoking, while the
// oldest one the ring remembers still revokes.
func sessionRingForgetsOldest(t *testing.T, st ports.SessionStore) {
	const rotations = 20
	base := now()
	s, last, hashes := rotateN(t, st, base, rotations)
	late := base.Add(rotations*time.Second + contractGrace + time.Millisecond)
	oldestKept := rotations - 1 - domain.RetiredRing // hashes[19] is the predecessor
	for _, forgotten := range []int{0, oldestKept - 1} {
		wantRotateErr(t, st, rotation(s, hashes[forgotten], late), domain.ErrNotFound)
		assertSession(t, mustGet(t, st, s.ID), last)
	}
	wantRotateErr(t, st, rotation(s, hashes[oldestKept], late), domain.ErrRefreshReuse)
	wantGone(t, st, s.ID)
}

func sessionRotateMissing(t *testing.T, st ports.SessionStore) {
	s := newSession(uuid.NewString(), now())
	wantRotateErr(t, st, rotation(s, s.RefreshHash, now()), domain.ErrNotFound)
}

func sessionConcurrentRotate(t *testing.T, st ports.SessionStore) {
	const callers = 50
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	at := base.Add(time.Second)

	type result struct {
		r       domain.Rotation
		outcome domain.RotateOutcome
		s       domain.Session
		err     error
	}
	results := make([]result, callers)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range results {
		done.Go(func() {
			r := rotation(s, s.RefreshHash, at)
			start.Wait()
			outcome, got, err := st.Rotate(t.Context(), r)
			results[i] = result{r, outcome, got, err}
		})
	}
	start.Done()
	done.Wait()

	var winner *result
	replays := 0
	for i := range results {
		res := &results[i]
		switch {
		case res.err != nil:
			t.Fatalf("caller %d: %v", i, res.err)
		case res.outcome == domain.Rotated:
			if winner != nil {
				t.Fatalf("callers %d and more rotated", i)
			}
			winner = res
		case res.outcome == domain.GraceReplay:
			replays++
		default:
			t.Fatalf("caller %d: outcome %d", i, res.outcome)
		}
	}
	if winner == nil || replays != callers-1 {
		t.Fatalf("rotated %v, grace replays %d; want exactly 1 and %d", winner != nil, replays, callers-1)
	}
	for i, res := range results {
		if !bytes.Equal(res.s.Successor, winner.r.Successor) || !bytes.Equal(res.s.RefreshHash, winner.r.NewHash) {
			t.Fatalf("caller %d got another successor than the winner's", i)
		}
	}
	got := mustGet(t, st, s.ID)
	if got.Generation != 1 || !bytes.Equal(got.RefreshHash, winner.r.NewHash) || !bytes.Equal(got.PrevHash, s.RefreshHash) {
		t.Fatalf("after the race: generation %d, current/prev not the winner's", got.Generation)
	}
}

func sessionListByUser(t *testing.T, st ports.SessionStore) {
	base := now()
	alice, bob := uuid.NewString(), uuid.NewString()
	s1 := newSession(alice, base.Add(-3*time.Minute))
	s2 := newSession(alice, base.Add(-2*time.Minute))
	s3 := newSession(alice, base.Add(-time.Minute))
	dead := newSession(alice, base.Add(-30*time.Second))
	dead.IdleExpiresAt = base.Add(-time.Second)
	other := newSession(bob, base)
	// Created out of order: the order must come from CreatedAt, not insertion.
	for _, s := range []domain.Session{s2, dead, s3, other, s1} {
		mustCreate(t, st, s)
	}
	if ids := listIDs(t, st, alice, base); !slices.Equal(ids, []string{s3.ID, s2.ID, s1.ID}) {
		t.Fatalf("ListByUser(alice) = %v, want %v", ids, []string{s3.ID, s2.ID, s1.ID})
	}
	// Judged at the time given: s1's idle limit has passed, s2's has not.
	later := base.Add(contractIdle - 150*time.Second)
	if ids := listIDs(t, st, alice, later); !slices.Equal(ids, []string{s3.ID, s2.ID}) {
		t.Fatalf("ListByUser(alice, later) = %v, want %v", ids, []string{s3.ID, s2.ID})
	}
	if ids := listIDs(t, st, bob, base); !slices.Equal(ids, []string{other.ID}) {
		t.Fatalf("ListByUser(bob) = %v, want [%s]", ids, other.ID)
	}
	if ids := listIDs(t, st, uuid.NewString(), base); len(ids) != 0 {
		t.Fatalf("ListByUser(nobody) = %v, want none", ids)
	}
	if err := st.Delete(t.Context(), s2.ID); err != nil {
		t.Fatal(err)
	}
	if ids := listIDs(t, st, alice, base); !slices.Equal(ids, []string{s3.ID, s1.ID}) {
		t.Fatalf("ListByUser(alice) after delete = %v, want %v", ids, []string{s3.ID, s1.ID})
	}
	list, err := st.ListByUser(t.Context(), alice, base)
	if err != nil {
		t.Fatal(err)
	}
	assertSession(t, list[0], s3)
}

func sessionDeleteIdempotent(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	keep := newSession(s.UserID, base)
	mustCreate(t, st, s)
	mustCreate(t, st, keep)
	for range 2 {
		if err := st.Delete(t.Context(), s.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantGone(t, st, s.ID)
	}
	if err := st.Delete(t.Context(), uuid.NewString()); err != nil {
		t.Fatalf("Delete(never existed): %v", err)
	}
	mustGet(t, st, keep.ID)
	if ids := listIDs(t, st, s.UserID, base); !slices.Equal(ids, []string{keep.ID}) {
		t.Fatalf("ListByUser = %v, want [%s]", ids, keep.ID)
	}
}

func sessionDeleteByUser(t *testing.T, st ports.SessionStore) {
	base := now()
	alice, bob := uuid.NewString(), uuid.NewString()
	var mine []domain.Session
	for i := range 3 {
		s := newSession(alice, base.Add(time.Duration(i)*time.Second))
		mustCreate(t, st, s)
		mine = append(mine, s)
	}
	other := newSession(bob, base)
	mustCreate(t, st, other)
	// An expired session of alice's is removed but not counted: only live sessions were ended.
	dead := newSession(alice, base.Add(-time.Hour))
	dead.IdleExpiresAt = base.Add(-time.Second)
	mustCreate(t, st, dead)

	n, err := st.DeleteByUser(t.Context(), alice, now())
	if err != nil || n != 3 {
		t.Fatalf("DeleteByUser = %d, %v; want 3 (the live sessions), nil", n, err)
	}
	for _, s := range mine {
		wantGone(t, st, s.ID)
	}
	if ids := listIDs(t, st, alice, base); len(ids) != 0 {
		t.Fatalf("ListByUser(alice) = %v, want none", ids)
	}
	mustGet(t, st, other.ID)
	if n, err := st.DeleteByUser(t.Context(), alice, now()); err != nil || n != 0 {
		t.Fatalf("second DeleteByUser = %d, %v; want 0, nil", n, err)
	}
}

func sessionSetRoles(t *testing.T, st ports.SessionStore) {
	base := now()
	alice, bob := uuid.NewString(), uuid.NewString()
	a1, a2, gone := newSession(alice, base), newSession(alice, base.Add(time.Second)), newSession(alice, base)
	other := newSession(bob, base)
	for _, s := range []domain.Session{a1, a2, gone, other} {
		mustCreate(t, st, s)
	}
	if err := st.Delete(t.Context(), gone.ID); err != nil {
		t.Fatal(err)
	}
	roles := []domain.Role{domain.RoleUser, domain.RoleModerator}
	if err := st.SetRoles(t.Context(), alice, roles); err != nil {
		t.Fatalf("SetRoles: %v", err)
	}
	for _, s := range []domain.Session{a1, a2} {
		want := s
		want.Roles = roles
		assertSession(t, mustGet(t, st, s.ID), want)
	}
	// Setting roles must not bring a deleted session back.
	wantGone(t, st, gone.ID)
	if got := mustGet(t, st, other.ID); !slices.Equal(got.Roles, other.Roles) {
		t.Fatalf("bob's roles = %v, want %v", got.Roles, other.Roles)
	}
	if err := st.SetRoles(t.Context(), uuid.NewString(), roles); err != nil {
		t.Fatalf("SetRoles(nobody): %v", err)
	}
}

func sessionContextCancelled(t *testing.T, st ports.SessionStore) {
	base := now()
	s := newSession(uuid.NewString(), base)
	mustCreate(t, st, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	fresh := newSession(s.UserID, base)
	calls := map[string]func() error{
		"Create": func() error { return st.Create(ctx, fresh, base) },
		"Get": func() error {
			_, err := st.Get(ctx, s.ID, base)
			return err
		},
		"Rotate": func() error {
			_, _, err := st.Rotate(ctx, rotation(s, s.RefreshHash, base.Add(time.Second)))
			return err
		},
		"ListByUser": func() error {
			_, err := st.ListByUser(ctx, s.UserID, base)
			return err
		},
		"Delete":       func() error { return st.Delete(ctx, s.ID) },
		"DeleteByUser": func() error { _, err := st.DeleteByUser(ctx, s.UserID, base); return err },
		"SetRoles":     func() error { return st.SetRoles(ctx, s.UserID, []domain.Role{domain.RoleAdmin}) },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s with a cancelled context: no error", name)
		} else if errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s with a cancelled context = %v, want an error that is not ErrNotFound", name, err)
		}
	}
	// Nothing happened.
	assertSession(t, mustGet(t, st, s.ID), s)
}
