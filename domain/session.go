package domain

import (
	"crypto/subtle"
	"time"
)

// Session is one login: a refresh-token family with its limits. The session store is the source
// of truth for whether a session is live; strict mode checks it on every authenticated request.
//
// The refresh token itself is never stored: RefreshHash is the SHA-256 of the current token,
// PrevHash that of its immediate predecessor, and Successor the current token sealed with a key
// derived from the predecessor, so that a client racing with itself inside the grace window gets
// the same successor back without the store ever holding a token in clear.
//
// Retired remembers the hashes of the tokens retired before the predecessor: the concatenated
// 32-byte SHA-256 hashes, newest first, at most RetiredRing of them. A token is "one this session
// really issued" when it is current, the predecessor or in Retired; only such a token, presented
// out of turn, proves a stolen refresh token and revokes the session. Any other token (a forged
// one: the session id is not secret, only the part after it) is refused without touching the
// session, and so is a retired token older than the ring remembers.
type Session struct {
	ID            string
	UserID        string
	Roles         []Role // the user's roles, kept in step with the user so the hot path never reads the user table
	RefreshHash   []byte
	PrevHash      []byte
	Retired       []byte // older retired hashes, newest first, RetiredRing*HashSize bytes at most
	Successor     []byte // current token sealed under the predecessor; empty before the first rotation
	RotatedAt     time.Time
	Generation    int
	CreatedAt     time.Time
	LastUsedAt    time.Time
	IdleExpiresAt time.Time // moves forward on every refresh
	AbsExpiresAt  time.Time // fixed at creation
	IP            string
	UserAgent     string
	AMR           []string // how the user authenticated at login (AMRPassword, AMROTP, AMRHardware ...); fixed at creation
}

// RetiredRing is how many retired refresh-token hashes a session keeps besides PrevHash; reuse
// of a token older than that is refused but no longer revokes the session.
const RetiredRing = 16

// HashSize is the size of a refresh-token hash (SHA-256), the unit of Session.Retired.
const HashSize = 32

// RetireHash returns the ring after a rotation that retires prev (the predecessor until now):
// prev prepended to retired, cut to RetiredRing hashes. An empty prev (no rotation yet) leaves
// the ring as it is. The result never shares memory with retired.
func RetireHash(retired, prev []byte) []byte {
	out := make([]byte, 0, min(len(prev)+len(retired), RetiredRing*HashSize))
	out = append(out, prev...)
	out = append(out, retired...)
	if len(out) > RetiredRing*HashSize {
		out = out[:RetiredRing*HashSize]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// RetiredContains reports, in constant time per entry, whether hash is one of the HashSize-byte
// entries of retired.
func RetiredContains(retired, hash []byte) bool {
	if len(hash) != HashSize {
		return false
	}
	found := 0
	for i := 0; i+HashSize <= len(retired); i += HashSize {
		found |= subtle.ConstantTimeCompare(retired[i:i+HashSize], hash)
	}
	return found == 1
}

// Live reports whether the session may still be used at now.
func (s Session) Live(now time.Time) bool {
	return now.Before(s.IdleExpiresAt) && now.Before(s.AbsExpiresAt)
}

// ExpiresAt is the earlier of the idle and absolute limits.
func (s Session) ExpiresAt() time.Time {
	if s.IdleExpiresAt.Before(s.AbsExpiresAt) {
		return s.IdleExpiresAt
	}
	return s.AbsExpiresAt
}
