package domain

import (
	"crypto/subtle"
	"slices"
	"time"
)

// RotateOutcome says what a refresh-token rotation did.
type RotateOutcome int

const (
	// Rotated: the presented token was current; it is now the predecessor and NewHash is current.
	Rotated RotateOutcome = iota + 1
	// GraceReplay: the presented token is the immediate predecessor within the grace window; the
	// caller gets Session.Successor to unseal.
	GraceReplay
)

// Rotation is the input of one atomic refresh-token rotation.
type Rotation struct {
	SessionID     string
	PresentedHash []byte
	NewHash       []byte
	Successor     []byte // the new token sealed under the presented one
	Now           time.Time
	Grace         time.Duration
	IdleTTL       time.Duration
}

// Rotate is the refresh-token rotation rule, the one place it is decided: it classifies
// r.PresentedHash against the hashes s issued, at r.Now, and says what the store must do. It is
// pure: s is not changed, and the result shares no memory with s or r.
//
//   - s not live at r.Now, or a hash s never issued (forged with a known session id, empty, of
//     the wrong length, or retired longer ago than the ring remembers): domain.ErrNotFound; the
//     store changes nothing. Knowing a session id must not be enough to end the session.
//   - the current hash: Rotated and the session to store in its place, where PrevHash (if any)
//     joins the front of Retired (cut to RetiredRing hashes), the presented hash becomes
//     PrevHash, r.NewHash becomes current with r.Successor, RotatedAt and LastUsedAt are r.Now,
//     Generation grows by one and the idle limit moves to r.Now+r.IdleTTL, capped by the
//     absolute one. The store writes it only if the stored current hash is still the presented
//     one (compare-and-set), so that of concurrent callers exactly one rotates.
//   - the predecessor, at most r.Grace after RotatedAt: GraceReplay and s itself, whose
//     Successor the caller unseals; nothing changes.
//   - the predecessor after the grace window, or a hash in Retired: a retired token presented
//     again proves a stolen refresh token. domain.ErrRefreshReuse, with a Session carrying only
//     s.ID and s.UserID (for the audit trail); the store deletes the session.
//
// The Redis adapter runs the same rule as a Lua script (it must be atomic on the server); the
// session contract suite in test/contract runs one table of cases through this function and
// through every store, so the copies cannot drift apart.
func (s Session) Rotate(r Rotation) (RotateOutcome, Session, error) {
	if !s.Live(r.Now) {
		return 0, Session{}, ErrNotFound
	}
	switch {
	case issuedHash(r.PresentedHash, s.RefreshHash):
		next := s
		next.Roles = slices.Clone(s.Roles)
		next.Retired = RetireHash(s.Retired, s.PrevHash)
		next.PrevHash = slices.Clone(s.RefreshHash)
		next.RefreshHash = slices.Clone(r.NewHash)
		next.Successor = nil
		if len(r.Successor) > 0 {
			next.Successor = slices.Clone(r.Successor)
		}
		next.RotatedAt = r.Now
		next.LastUsedAt = r.Now
		next.Generation = s.Generation + 1
		next.IdleExpiresAt = r.Now.Add(r.IdleTTL)
		if next.IdleExpiresAt.After(s.AbsExpiresAt) {
			next.IdleExpiresAt = s.AbsExpiresAt
		}
		return Rotated, next, nil
	case issuedHash(r.PresentedHash, s.PrevHash) && !r.Now.After(s.RotatedAt.Add(r.Grace)):
		return GraceReplay, s.Clone(), nil
	case issuedHash(r.PresentedHash, s.PrevHash) || RetiredContains(s.Retired, r.PresentedHash):
		return 0, Session{ID: s.ID, UserID: s.UserID}, ErrRefreshReuse
	default:
		return 0, Session{}, ErrNotFound
	}
}

// issuedHash compares a presented hash with a stored one in constant time. An empty stored hash
// (no predecessor yet) never matches.
func issuedHash(presented, stored []byte) bool {
	return len(stored) > 0 && subtle.ConstantTimeCompare(presented, stored) == 1
}

// Clone copies s so that the copy shares no slice with it.
func (s Session) Clone() Session {
	s.Roles = slices.Clone(s.Roles)
	s.RefreshHash = slices.Clone(s.RefreshHash)
	s.PrevHash = slices.Clone(s.PrevHash)
	s.Retired = slices.Clone(s.Retired)
	s.Successor = slices.Clone(s.Successor)
	s.AMR = slices.Clone(s.AMR)
	return s
}
