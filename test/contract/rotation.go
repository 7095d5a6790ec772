package contract

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// rotationCase is one row of the rotation table: a session in some state, a presented hash and
// a time, and what the rule must decide. The same table runs through domain.Session.Rotate and
// through every session store, including the Redis Lua script, the one copy of the rule that
// cannot call the domain function.
type rotationCase struct {
	name string
	// state returns the stored session (created at base, live by the wall clock) and the hash
	// presented, at the returned time.
	state func(base time.Time) (domain.Session, []byte, time.Time)
	want  rotationVerdict
}

// rotationVerdict is the expected decision of one rotation case.
type rotationVerdict int

const (
	verdictRotate rotationVerdict = iota + 1
	verdictGrace
	verdictRevoke
	verdictRefuse
)

func (v rotationVerdict) String() string {
	return [...]string{"", "rotate", "grace replay", "revoke for reuse", "refuse"}[v]
}

// rotatedSession is a session created at base that has rotated gen times, the last at
// base+1min, with a full or partial ring of retired hashes.
func rotatedSession(base time.Time, gen, ring int) domain.Session {
	s := newSession(uuid.NewString(), base)
	if gen == 0 {
		return s
	}
	s.PrevHash = randomBytes(domain.HashSize)
	s.Retired = randomBytes(ring * domain.HashSize)
	if ring == 0 {
		s.Retired = nil
	}
	s.Successor = randomBytes(72)
	s.Generation = gen
	s.RotatedAt = base.Add(time.Minute)
	s.LastUsedAt = s.RotatedAt
	s.IdleExpiresAt = s.RotatedAt.Add(contractIdle)
	return s
}

func entry(ring []byte, i int) []byte {
	return bytes.Clone(ring[i*domain.HashSize : (i+1)*domain.HashSize])
}

// rotationCases is the table; every boundary of the rule has a row on each side.
var rotationCases = []rotationCase{
	{"CurrentBeforeFirstRotation", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 0, 0)
		return s, s.RefreshHash, b.Add(time.Second)
	}, verdictRotate},
	{"CurrentWithPredecessorAndRing", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 5, 3)
		return s, s.RefreshHash, b.Add(time.Hour)
	}, verdictRotate},
	{"CurrentWithFullRingForgetsOldest", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 40, domain.RetiredRing)
		return s, s.RefreshHash, b.Add(time.Hour)
	}, verdictRotate},
	{"CurrentInsideGraceStillRotates", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 1, 0)
		return s, s.RefreshHash, s.RotatedAt
	}, verdictRotate},
	{"CurrentCapsIdleAtAbsolute", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 2, 1)
		s.AbsExpiresAt = b.Add(2 * time.Hour)
		s.IdleExpiresAt = s.AbsExpiresAt
		return s, s.RefreshHash, b.Add(time.Hour)
	}, verdictRotate},
	{"CurrentAtIdleLimit", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 2, 1)
		s.IdleExpiresAt = b.Add(time.Hour)
		return s, s.RefreshHash, s.IdleExpiresAt
	}, verdictRefuse},
	{"CurrentJustBeforeIdleLimit", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 2, 1)
		s.IdleExpiresAt = b.Add(time.Hour)
		return s, s.RefreshHash, s.IdleExpiresAt.Add(-time.Millisecond)
	}, verdictRotate},
	{"CurrentAtAbsoluteLimit", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 2, 1)
		s.AbsExpiresAt = b.Add(time.Hour)
		return s, s.RefreshHash, s.AbsExpiresAt
	}, verdictRefuse},
	{"PredecessorAtRotation", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 1, 0)
		return s, s.PrevHash, s.RotatedAt
	}, verdictGrace},
	{"PredecessorAtGraceEnd", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 3, 1)
		return s, s.PrevHash, s.RotatedAt.Add(contractGrace)
	}, verdictGrace},
	{"PredecessorJustAfterGrace", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 3, 1)
		return s, s.PrevHash, s.RotatedAt.Add(contractGrace + time.Millisecond)
	}, verdictRevoke},
	{"PredecessorAfterIdleLimit", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 3, 1)
		s.IdleExpiresAt = s.RotatedAt.Add(time.Hour)
		return s, s.PrevHash, s.IdleExpiresAt
	}, verdictRefuse},
	{"NewestInRingInsideGrace", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 4, 2)
		return s, entry(s.Retired, 0), s.RotatedAt
	}, verdictRevoke},
	{"OldestInFullRing", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 30, domain.RetiredRing)
		return s, entry(s.Retired, domain.RetiredRing-1), b.Add(time.Hour)
	}, verdictRevoke},
	{"StraddlingTwoRingEntries", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 4, 2)
		return s, bytes.Clone(s.Retired[domain.HashSize/2 : domain.HashSize/2+domain.HashSize]), b.Add(time.Hour)
	}, verdictRefuse},
	{"RingEntryCutShort", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 4, 2)
		return s, entry(s.Retired, 1)[:domain.HashSize-1], b.Add(time.Hour)
	}, verdictRefuse},
	{"WholeRingAsOneHash", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 4, 2)
		return s, bytes.Clone(s.Retired), b.Add(time.Hour)
	}, verdictRefuse},
	{"ForgedBeforeFirstRotation", func(b time.Time) (domain.Session, []byte, time.Time) {
		return rotatedSession(b, 0, 0), randomBytes(domain.HashSize), b.Add(time.Second)
	}, verdictRefuse},
	{"ForgedInsideGrace", func(b time.Time) (domain.Session, []byte, time.Time) {
		s := rotatedSession(b, 2, 1)
		return s, randomBytes(domain.HashSize), s.RotatedAt
	}, verdictRefuse},
	{"EmptyHashBeforeFirstRotation", func(b time.Time) (domain.Session, []byte, time.Time) {
		return rotatedSession(b, 0, 0), nil, b.Add(time.Second)
	}, verdictRefuse},
	{"EmptyHashAfterRotations", func(b time.Time) (domain.Session, []byte, time.Time) {
		return rotatedSession(b, 3, 2), nil, b.Add(time.Hour)
	}, verdictRefuse},
}

// sessionRotationTable runs rotationCases through domain.Session.Rotate and through st: both
// must reach the case's verdict, and the store must return and keep exactly the session the
// rule returned (the session as created for a refusal or a grace replay, none after a revoke).
func sessionRotationTable(t *testing.T, st ports.SessionStore) {
	for _, c := range rotationCases {
		t.Run(c.name, func(t *testing.T) {
			s, presented, at := c.state(now())
			r := rotation(s, presented, at)

			wantOutcome, wantSession, wantErr := s.Rotate(r)
			if got := verdictOf(wantOutcome, wantErr); got != c.want {
				t.Fatalf("domain rule: %v (%v), want %v", got, wantErr, c.want)
			}

			mustCreate(t, st, s)
			outcome, got, err := st.Rotate(t.Context(), r)
			if v := verdictOf(outcome, err); v != c.want {
				t.Fatalf("store: %v (%v), want %v", v, err, c.want)
			}
			switch c.want {
			case verdictRotate:
				assertSession(t, got, wantSession)
				assertSession(t, mustGet(t, st, s.ID), wantSession)
			case verdictGrace:
				assertSession(t, got, s)
				assertSession(t, mustGet(t, st, s.ID), s)
			case verdictRevoke:
				if got.ID != s.ID || got.UserID != s.UserID {
					t.Fatalf("revoked session %q of %q, want %q of %q", got.ID, got.UserID, s.ID, s.UserID)
				}
				wantGone(t, st, s.ID)
			case verdictRefuse:
				assertSession(t, mustGet(t, st, s.ID), s)
			}
		})
	}
}

// verdictOf reads a rotation result, from the rule or from a store, as a verdict; anything
// else (another error) is 0, which no case expects.
func verdictOf(outcome domain.RotateOutcome, err error) rotationVerdict {
	switch {
	case errors.Is(err, domain.ErrRefreshReuse):
		return verdictRevoke
	case errors.Is(err, domain.ErrNotFound):
		return verdictRefuse
	case err != nil:
		return 0
	case outcome == domain.Rotated:
		return verdictRotate
	case outcome == domain.GraceReplay:
		return verdictGrace
	}
	return 0
}
