// Package ports holds the interfaces the application needs from the world: stores, token
// issuing and verification, password hashing, mail, clock and ids. Adapters implement them;
// errors crossing a port are domain errors, or infrastructure errors wrapped with
// domain.ErrUnavailable, which the HTTP adapter maps to 503.
package ports

import (
	"context"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// UserStore keeps user accounts. Email and username are unique (Create and Update return
// domain.ErrConflict); lookups of a missing user return domain.ErrNotFound. Every user carries
// a version (domain.User.Version) for optimistic concurrency.
type UserStore interface {
	// Create stores u with version 1, whatever u.Version holds.
	Create(ctx context.Context, u domain.User) error
	ByID(ctx context.Context, id string) (domain.User, error)
	ByEmail(ctx context.Context, normalizedEmail string) (domain.User, error)
	ByUsername(ctx context.Context, username string) (domain.User, error)
	// Update writes every mutable field of u (email, username, name, roles, verified, disabled,
	// password hash, updated_at) for u.ID, only if the stored version equals u.Version; it
	// then stores version u.Version+1 and returns the user as stored, with that version, so a
	// caller never bumps Version itself. A stored version that differs is domain.ErrStale and
	// nothing is written; a missing user is domain.ErrNotFound.
	Update(ctx context.Context, u domain.User) (domain.User, error)
	// Delete removes the user with id together with the user's second factors (TOTP factor,
	// recovery codes, passkeys) in one transaction where the store holds them too, so no
	// second factor outlives its user and no user is ever seen without the factors it had. A
	// missing user is domain.ErrNotFound and removes nothing; a user who is the only enabled
	// admin is domain.ErrLastAdmin and removes nothing, decided under UpdateUnlessLastAdmin's
	// rule (one step with the removal, serialised against every change that may take away an
	// admin). Sessions are not touched.
	Delete(ctx context.Context, id string) error
	// UpdateUnlessLastAdmin is Update for a change that may take away an enabled admin
	// (domain.User.ActiveAdmin): when the stored user is one and u is not, u is written only if
	// another enabled admin exists; else it is domain.ErrLastAdmin and nothing is written. The
	// check and the write are one step, serialised against every other UpdateUnlessLastAdmin and
	// Delete of the store (from any process), so that no interleaving of such
	// changes leaves the store without an enabled admin once it has one. The version rule and
	// errors are Update's; a stale version is domain.ErrStale whatever else holds.
	UpdateUnlessLastAdmin(ctx context.Context, u domain.User) (domain.User, error)
}

// IdentityNormalizer folds what a person typed as an email address, a username or a display
// name into the one form that is stored and compared, or refuses it with a *domain.FieldError
// (field "email", "username" or "name"; code invalid_email, invalid_username or invalid_name,
// with a message naming the reason: see domain.ForbiddenCharacters and domain.MixedScripts). Two inputs a reader cannot tell apart normalise to the
// same string, so the unique index on the stored form keeps them one account: compatibility
// forms (fullwidth letters) and case fold, the domain takes one IDNA form. Control, format and
// bidi characters, and a part that mixes look-alike scripts, are refused. The folded form is
// checked by the domain's syntactic validators (domain.NormalizeEmail, NormalizeUsername,
// ValidateName). It is the only home of these rules: every use case that takes or looks up
// an identity calls it.
type IdentityNormalizer interface {
	Email(raw string) (string, *domain.FieldError)
	Username(raw string) (string, *domain.FieldError)
	// Name normalises a display name ("" stays ""): spaces are mapped and collapsed, case is kept.
	Name(raw string) (string, *domain.FieldError)
}

// UserDirectory is the administrator's view over all users.
type UserDirectory interface {
	// List returns up to q.Limit users matching q, ordered by (CreatedAt, ID), after q's cursor.
	// The order is stable under concurrent inserts: paging never repeats or skips a user that
	// existed when paging began.
	List(ctx context.Context, q domain.UserQuery) ([]domain.User, error)
	// CountActiveAdmins counts enabled users holding the admin role.
	CountActiveAdmins(ctx context.Context) (int, error)
}

// SessionStore keeps sessions. It is on the hot path: Get is called on every authenticated
// request in strict mode and must be one round trip. A session past its limits is reported as
// domain.ErrNotFound, exactly as a missing one.
//
// One clock rule: a store never reads a clock of its own. Every method whose answer depends on
// the time is told it by its caller (now, or Rotation.Now) and judges liveness there; Delete
// and SetRoles do not depend on the time and take none.
type SessionStore interface {
	// Create stores s. A session with the same ID live at now is domain.ErrConflict; a session
	// already dead at now may be dropped instead of stored.
	Create(ctx context.Context, s domain.Session, now time.Time) error
	// Get returns session id if it is live at now; otherwise domain.ErrNotFound.
	Get(ctx context.Context, id string, now time.Time) (domain.Session, error)
	// Rotate atomically rotates the refresh token of r.SessionID, against any number of
	// concurrent callers and instances. The presented hash is classified against the hashes
	// this session issued (see domain.Session):
	//   - presented == current: Retired becomes PrevHash (if any) prepended to Retired, cut to
	//     domain.RetiredRing hashes; the predecessor becomes the presented (current) hash;
	//     r.NewHash becomes current, r.Successor is kept, the idle limit moves to Now+IdleTTL
	//     (capped by the absolute one); returns domain.Rotated.
	//   - presented == predecessor and Now <= RotatedAt+Grace: returns domain.GraceReplay and the
	//     session, whose Successor the caller unseals; nothing changes.
	//   - presented == predecessor after the grace window, or one of the hashes in Retired (a
	//     retired token replayed: the refresh token was stolen): the session is deleted and
	//     domain.ErrRefreshReuse returned, with a Session carrying the deleted session's ID and
	//     UserID (for the audit trail).
	// Any other hash (unknown: forged with a known session id, or retired longer ago than the
	// ring remembers) returns domain.ErrNotFound and nothing changes: knowing a session id must
	// not be enough to end the session. A missing or expired session returns domain.ErrNotFound.
	Rotate(ctx context.Context, r domain.Rotation) (domain.RotateOutcome, domain.Session, error)
	// ListByUser returns the live sessions of a user, newest first.
	ListByUser(ctx context.Context, userID string, now time.Time) ([]domain.Session, error)
	// Delete removes one session; deleting a missing one is not an error.
	Delete(ctx context.Context, id string) error
	// DeleteByUser removes every session of a user, returning how many of them were live at now.
	DeleteByUser(ctx context.Context, userID string, now time.Time) (int, error)
	// SetRoles replaces the roles kept in every session of a user (after a role change).
	SetRoles(ctx context.Context, userID string, roles []domain.Role) error
}

// OneTimeTokens keeps emailed single-use tokens, hashed.
type OneTimeTokens interface {
	// Create stores t and deletes every earlier token of the same user and purpose.
	Create(ctx context.Context, t domain.OneTimeToken) error
	// Consume atomically deletes and returns the token with this hash and purpose if it has not
	// expired at now. Used, superseded, expired, unknown or other-purpose tokens are
	// domain.ErrNotFound; of two concurrent calls with one token, exactly one succeeds.
	Consume(ctx context.Context, hash []byte, purpose domain.TokenPurpose, now time.Time) (domain.OneTimeToken, error)
	// DeleteByUser removes every token of a user.
	DeleteByUser(ctx context.Context, userID string) error
	// DeleteByUserPurpose removes the user's tokens of one purpose (a password change spends
	// every outstanding reset token).
	DeleteByUserPurpose(ctx context.Context, userID string, purpose domain.TokenPurpose) error
}

// MailOutbox is the durable queue of outgoing mail. A use case queues messages in the request;
// delivery workers, in any number of processes, claim them under a lease so that each message
// is handled by one worker at a time, and settle them. A message whose lease ran out (its worker
// died) is claimed again.
type MailOutbox interface {
	// Enqueue stores mails, all or none, as pending and due at once (NextAttemptAt is taken
	// from each mail; zero means its CreatedAt).
	Enqueue(ctx context.Context, mails ...domain.OutboxMail) error
	// Claim leases up to limit pending messages due at now (NextAttemptAt <= now) and not
	// leased by anyone (or whose lease ended), oldest first, to owner until now+lease, counting
	// one attempt on each. Two concurrent claims never return the same message.
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMail, error)
	// Prepare stores m's Link, LinkExpiresAt, Name and Prepared and creates t (superseding the
	// user's earlier tokens of its purpose), in one transaction, if owner still holds m's lease;
	// else it is domain.ErrStale and nothing is written. A later attempt may prepare a prepared
	// message again: its new link replaces the old, whose token t supersedes. m.UserID names the
	// account; when a message of the outbox supersedes m (domain.OutboxMail.Supersedes, m's
	// stored CreatedAt and ID counting), it is domain.ErrMailSuperseded and nothing is written,
	// decided in the same transaction as the token is written, so that a newer message prepared
	// or queued at the same time never loses its token to m.
	Prepare(ctx context.Context, owner string, m domain.OutboxMail, t domain.OneTimeToken) error
	// Superseded reports whether a message of the outbox supersedes m, by Prepare's rule: a
	// newer message of its kind for its account has made, or will make, the token that ends
	// m's link. A message that is not stored is domain.ErrNotFound.
	Superseded(ctx context.Context, m domain.OutboxMail) (bool, error)
	// Settle records the outcome of an attempt on message id and releases owner's lease; a
	// final outcome (sent, failed, dropped) wipes the link and its expiry. A lease owner no
	// longer holds is domain.ErrStale.
	Settle(ctx context.Context, id, owner string, s domain.MailSettlement) error
	// List returns up to q.Limit messages matching q, newest first.
	List(ctx context.Context, q domain.OutboxQuery) ([]domain.OutboxMail, error)
	// Retry makes a failed message pending and due at now with its attempts reset, and
	// unprepared (no link), so that the worker makes it a fresh token and link; a message that
	// does not exist or has not failed is domain.ErrNotFound.
	Retry(ctx context.Context, id string, now time.Time) error
	// Cancel drops every message of kind for the account userID names that is not sent: pending
	// (leased or not), or failed (so that no operator's retry sends it), recording reason and
	// wiping its link, as of at; it says how many. A worker that held the lease of one writes
	// nothing more on it (Prepare and Settle are domain.ErrStale). Tokens a message made before
	// stay: the caller ends those.
	Cancel(ctx context.Context, userID string, kind domain.MailKind, reason string, at time.Time) (int, error)
	// Purge deletes the settled (sent, dropped) messages last updated before before, and says
	// how many.
	Purge(ctx context.Context, before time.Time) (int, error)
}

// MailComposer renders an outbox message (prepared, for a kind with a link) into the mail to
// send, as of now: a link's text states the time it has left until m.LinkExpiresAt, which is
// less than its lifetime when a later attempt sends an earlier attempt's link.
type MailComposer interface {
	Compose(m domain.OutboxMail, now time.Time) (Mail, error)
}

// RateLimit is a limit of Burst hits at once, refilled at Burst per Period (a GCRA / token
// bucket).
type RateLimit struct {
	Burst  int
	Period time.Duration
}

// RateResult is the outcome of one RateLimiter.Allow call.
type RateResult struct {
	Allowed    bool
	Remaining  int
	RetryAfter time.Duration // refused: how long until the hits fit; allowed: until one more hit fits (0 while Remaining > 0)
}

// RateLimiter counts hits per key across every instance (Redis) or in one process (memory).
// Keys are opaque strings chosen by the caller, e.g. "login:ip:203.0.113.9".
type RateLimiter interface {
	// Allow records n hits on key under limit and reports whether they fit. Refused hits are not
	// recorded; n = 0 records nothing and reports the key's state (always allowed).
	Allow(ctx context.Context, key string, limit RateLimit, n int) (RateResult, error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// AuditLog is the append-only trail of security events.
type AuditLog interface {
	Append(ctx context.Context, r domain.AuditRecord) error
	// List returns up to q.Limit records matching q, newest first, before q's cursor.
	List(ctx context.Context, q domain.AuditQuery) ([]domain.AuditRecord, error)
}

// KeyStore keeps token-signing keys, shared by every instance. Private key material is sealed
// by the caller before it is stored.
type KeyStore interface {
	// Keys returns every key, newest first.
	Keys(ctx context.Context) ([]domain.SigningKey, error)
	Add(ctx context.Context, k domain.SigningKey) error
	// Retire marks a key retired at the given time.
	Retire(ctx context.Context, id string, at time.Time) error
	// Delete removes a key for good (after it can no longer verify anything).
	Delete(ctx context.Context, id string) error
}

// SigningKeyRotator rotates the token-signing keys kept in the KeyStore.
type SigningKeyRotator interface {
	// RotateSigningKey adds a new signing key, published at once, that signs from a moment
	// every instance has loaded it by; the keys signing until then are retired at that moment
	// and stay published while tokens they signed may be live. It returns the new key's id.
	// Keys that do not come from the KeyStore (a file, a secret) are domain.ErrStaticKeys.
	RotateSigningKey(ctx context.Context) (string, error)
}

// TokenIssuer signs access tokens.
type TokenIssuer interface {
	// Issue signs c with the active key. c.IssuedAt and c.ExpiresAt are set by the caller.
	Issue(ctx context.Context, c domain.AccessClaims) (string, error)
}

// TokenVerifier checks access tokens offline: signature, algorithm pinned to the key, typ,
// issuer, audience and time claims. Any failure is domain.ErrUnauthenticated.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (domain.AccessClaims, error)
}

// PasswordHasher hashes and checks passwords. Implementations bound concurrent hashing.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) (string, error)
	// Check refuses, at once and before any work, a new password Hash cannot take whole
	// (bcrypt: over 72 bytes) with the *domain.FieldError password_too_long of field
	// "password"; nil when Hash would take it. The password policy is domain.ValidatePassword's.
	Check(password string) *domain.FieldError
	// Verify reports whether password matches hash, and whether the hash should be rewritten
	// with the current parameters or algorithm.
	Verify(ctx context.Context, hash, password string) (ok, rehash bool, err error)
}

// Mail is one message to send: a plain-text part and, when HTML is set, an HTML alternative.
// ID is stable across attempts (the outbox id), so a mailer can derive a Message-ID from it
// and a receiver can drop a repeat; Link is the message's one action link, if any (the log
// mailer prints it on its own).
type Mail struct {
	ID      string
	To      string
	Subject string
	Text    string
	HTML    string
	Link    string
}

// Mailer sends mail.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// IDSource makes new unique, time-ordered identifiers for users, sessions and tokens.
type IDSource interface {
	NewID() string
}

// Pinger is implemented by stores that can report readiness.
type Pinger interface {
	// Name is a short label for /readyz ("database", "sessions").
	Name() string
	Ping(ctx context.Context) error
}

// TOTPFactors keeps each user's TOTP authenticator (at most one), its secret sealed.
type TOTPFactors interface {
	// Put stores f as the user's pending factor, replacing a pending one. A confirmed factor of
	// the user is domain.ErrConflict and stays as it is.
	Put(ctx context.Context, f domain.TOTPFactor) error
	// Get returns the user's factor, pending or confirmed; none is domain.ErrNotFound.
	Get(ctx context.Context, userID string) (domain.TOTPFactor, error)
	// Confirm turns the user's pending factor whose sealed secret is secret into a confirmed one,
	// confirmed at at, whose code of step was just accepted, in one step: no pending factor, or
	// one that another Put replaced meanwhile (another secret), is domain.ErrNotFound and stays.
	Confirm(ctx context.Context, userID string, secret []byte, step int64, at time.Time) error
	// UseStep records that a code of step was accepted, atomically and only if step is later
	// than the last one accepted: of any number of concurrent calls with one step exactly one
	// succeeds; the others, and any call with an earlier step, get domain.ErrConflict (a
	// replayed code). No confirmed factor is domain.ErrNotFound.
	UseStep(ctx context.Context, userID string, step int64) error
	// Delete removes the user's factor, pending or confirmed; none is not an error.
	Delete(ctx context.Context, userID string) error
}

// RecoveryCodes keeps each user's single-use recovery codes, hashed.
type RecoveryCodes interface {
	// Replace drops the user's codes and stores hashes as the new ones.
	Replace(ctx context.Context, userID string, hashes [][]byte, at time.Time) error
	// Use atomically removes the user's code with this hash: of concurrent calls with one code
	// exactly one succeeds. An unknown or used code is domain.ErrNotFound.
	Use(ctx context.Context, userID string, hash []byte) error
	// Count is how many unused codes the user has.
	Count(ctx context.Context, userID string) (int, error)
	// DeleteByUser removes every code of the user.
	DeleteByUser(ctx context.Context, userID string) error
}

// Passkeys keeps users' WebAuthn credentials.
type Passkeys interface {
	// Add stores p. A credential id already held (by any user) or an id already used is
	// domain.ErrConflict.
	Add(ctx context.Context, p domain.Passkey) error
	// ByCredentialID returns the passkey with this authenticator credential id; none is
	// domain.ErrNotFound.
	ByCredentialID(ctx context.Context, credentialID []byte) (domain.Passkey, error)
	// ByUser returns the user's passkeys, oldest first.
	ByUser(ctx context.Context, userID string) ([]domain.Passkey, error)
	// HasAny reports whether the user has a passkey, without loading any.
	HasAny(ctx context.Context, userID string) (bool, error)
	// Use records an assertion of the passkey id at at: its signature counter becomes signCount
	// and its record credential, atomically and only if domain.SignCountAdvances(stored,
	// signCount): of concurrent uses with one count at most one succeeds; the others, and any
	// count that does not advance, get domain.ErrConflict (a cloned credential). No such
	// passkey is domain.ErrNotFound.
	Use(ctx context.Context, id string, signCount uint32, credential []byte, at time.Time) error
	// Rename sets the name of the user's passkey id; none of the user's is domain.ErrNotFound.
	Rename(ctx context.Context, userID, id, name string) (domain.Passkey, error)
	// Delete removes the user's passkey id; none of the user's is domain.ErrNotFound.
	Delete(ctx context.Context, userID, id string) error
	// DeleteByUser removes every passkey of the user; none is not an error.
	DeleteByUser(ctx context.Context, userID string) error
}

// Challenges keeps short-lived single-use state between two requests (a login waiting for its
// second factor, a WebAuthn ceremony), shared by every instance.
type Challenges interface {
	// Put stores c until c.ExpiresAt. A hash already held is domain.ErrConflict.
	Put(ctx context.Context, c domain.Challenge) error
	// Take atomically removes and returns the challenge with this hash and purpose if it has
	// not expired at now: of concurrent calls exactly one gets it. Missing, taken, expired or
	// other-purpose challenges are domain.ErrNotFound.
	Take(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error)
	// Get returns the challenge with this hash and purpose if it has not expired at now,
	// leaving it in place for a later Take. Missing, taken, expired or other-purpose
	// challenges are domain.ErrNotFound.
	Get(ctx context.Context, hash []byte, purpose domain.ChallengePurpose, now time.Time) (domain.Challenge, error)
}

// OneTimePasswords makes and checks TOTP secrets and codes (RFC 6238: SHA-1, 6 digits,
// domain.TOTPPeriod).
type OneTimePasswords interface {
	// NewKey makes a random secret for account at issuer and returns it in base32, with its
	// otpauth:// URI and that URI as a QR code PNG.
	NewKey(issuer, account string) (secret, uri string, qrPNG []byte, err error)
	// Check reports whether code is the code of secret for the time step at falls in (exactly
	// that step: the caller walks the skew).
	Check(secret, code string, at time.Time) bool
}

// SecretBox seals small secrets at rest (TOTP secrets) with the key-encryption key. The label
// binds a sealed value to its owner: a value sealed under one label does not open under
// another, so sealed secrets cannot be swapped between rows.
type SecretBox interface {
	Seal(label string, plaintext []byte) ([]byte, error)
	Open(label string, sealed []byte) ([]byte, error)
}
