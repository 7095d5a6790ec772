package domain

import "time"

// Session is one login: a refresh-token family with its limits. The session store is the source
// of truth for whether a session is live; strict mode checks it on every authenticated request.
//
// The refresh token itself is never stored: RefreshHash is the SHA-256 of the current token,
// PrevHash that of its immediate predecessor, and Successor the current token sealed with a key
// derived from the predecessor, so that a client racing with itself inside the grace window gets
// the same successor back without the store ever holding a token in clear.
type Session struct {
	ID            string
	UserID        string
	Roles         []Role // the user's roles, kept in step with the user so the hot path never reads the user table
	RefreshHash   []byte
	PrevHash      []byte
	Successor     []byte // current token sealed under the predecessor; empty before the first rotation
	RotatedAt     time.Time
	Generation    int
	CreatedAt     time.Time
	LastUsedAt    time.Time
	IdleExpiresAt time.Time // moves forward on every refresh
	AbsExpiresAt  time.Time // fixed at creation
	IP            string
	UserAgent     string
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
