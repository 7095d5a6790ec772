package application

// The helpers the use cases share, in one place: account creation (registration and an
// admin's invite), the optimistic read-change-write retry, loading the caller's own account,
// ending other sessions, paging, and small string helpers. A use case calls these, never
// another use case's unexported methods.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// accounts creates user accounts: validation, hashing and storing, shared by Register and
// Admin.Create (which add their own audit events and mail).
type accounts struct {
	users  ports.UserStore
	idn    ports.IdentityNormalizer
	hasher ports.PasswordHasher
	clock  ports.Clock
	ids    ports.IDSource
	log    *slog.Logger
}

// create validates in and stores a user with roles.
func (r *accounts) create(ctx context.Context, in RegisterInput, roles []domain.Role) (UserOutput, error) {
	v := &domain.ValidationError{}
	email, invalid := r.idn.Email(in.Email)
	v.Put(invalid)
	v.Put(checkNewPassword(r.hasher, in.Password))
	username := ""
	if in.Username != "" {
		username, invalid = r.idn.Username(in.Username)
		v.Put(invalid)
	}
	name, invalid := r.idn.Name(in.Name)
	v.Put(invalid)
	if err := v.Err(); err != nil {
		return UserOutput{}, err
	}
	hash, err := r.hasher.Hash(ctx, in.Password)
	if err != nil {
		return UserOutput{}, fmt.Errorf("hash password: %w", err)
	}
	now := r.clock.Now()
	u := domain.User{
		ID:           r.ids.NewID(),
		Email:        email,
		Username:     username,
		Name:         name,
		Roles:        roles,
		Version:      1, // what the store keeps for a new user
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := r.users.Create(ctx, u); err != nil {
		return UserOutput{}, fmt.Errorf("create user: %w", err)
	}
	r.log.InfoContext(ctx, "user registered", "user_id", u.ID)
	return userOutput(u), nil
}

// checkNewPassword applies the password policy (domain.ValidatePassword) to a new password,
// then what the hasher can take (bcrypt: 72 bytes), so that a password Hash would refuse is a
// field error before anything changes, never a failure half-way.
func checkNewPassword(hasher ports.PasswordHasher, password string) *domain.FieldError {
	if invalid := domain.ValidatePassword(password); invalid != nil {
		return invalid
	}
	return hasher.Check(password)
}

// Page sizes for administrative listings.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// staleAttempts is how many times a use case runs its read-change-write cycle when the user
// keeps changing under it (domain.ErrStale) before it gives up with that error.
const staleAttempts = 3

// retryStale runs cycle until it returns anything but domain.ErrStale, at most staleAttempts
// times. Each run must re-read what it writes.
func retryStale(cycle func() error) error {
	var err error
	for range staleAttempts {
		if err = cycle(); !errors.Is(err, domain.ErrStale) {
			return err
		}
	}
	return err
}

// revokeOthers ends every live session of userID except keep.
func revokeOthers(ctx context.Context, sessions ports.SessionStore, userID, keep string, now time.Time) (int, error) {
	list, err := sessions.ListByUser(ctx, userID, now)
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	n := 0
	for _, s := range list {
		if s.ID == keep {
			continue
		}
		if err := sessions.Delete(ctx, s.ID); err != nil {
			return n, fmt.Errorf("delete session: %w", err)
		}
		n++
	}
	return n, nil
}

// isNotFound reports whether err is domain.ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, domain.ErrNotFound) }

// loadSelf loads the caller's own user; one that no longer exists means the token is stale.
func loadSelf(ctx context.Context, users ports.UserStore, userID string) (domain.User, error) {
	u, err := users.ByID(ctx, userID)
	if err == nil && u.Disabled {
		return domain.User{}, domain.ErrUnauthenticated
	}
	if err != nil {
		if isNotFound(err) {
			return domain.User{}, domain.ErrUnauthenticated
		}
		return domain.User{}, fmt.Errorf("load user: %w", err)
	}
	return u, nil
}

// truncate cuts s to at most n bytes, dropping a character the cut would split.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// pageLimit is the page size a listing asked for: DefaultPageSize when 0, else 1 to MaxPageSize.
func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 1 || n > MaxPageSize:
		return 0, &domain.FieldError{Field: "limit", Code: "invalid_limit", Message: fmt.Sprintf("must be between 1 and %d", MaxPageSize)}
	}
	return n, nil
}

// invalidCursor is the error of a paging cursor this API did not hand out.
func invalidCursor() error {
	return &domain.FieldError{Field: "cursor", Code: "invalid_cursor", Message: "is not a cursor from this API"}
}

// A user cursor is base64url("<unix nanoseconds>.<id>"): opaque to clients, stable under inserts.
func encodeUserCursor(createdAt time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(createdAt.UnixNano(), 10) + "." + id))
}

// decodeUserCursor reads a cursor of encodeUserCursor. The id must look like one of ours
// (isIDToken), as the audit trail's cursor must: the base64 hides from the request checks
// whatever a forged cursor holds, and a NUL in it is a store error (a 500), not a bad cursor.
func decodeUserCursor(c string) (time.Time, string, error) {
	if len(c) > 200 {
		return time.Time{}, "", errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	ns, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" || len(id) > 64 || !isIDToken(id) {
		return time.Time{}, "", errors.New("malformed cursor")
	}
	return time.Unix(0, n).UTC(), id, nil
}

// invalidField is the error of one invalid input field.
func invalidField(field, code, msg string) error {
	return &domain.FieldError{Field: field, Code: code, Message: msg}
}

// reauthenticate checks the password the signed-in owner of u gives for a sensitive change
// (a new password or address, adding or removing a second factor, new recovery codes: see also
// addingAWayIn) under the rule of a password login: while the account or the client address is
// delayed or locked it is domain.ErrThrottled before any password work, and a wrong password is
// domain.ErrInvalidCredentials counted as a failed login of the account. Otherwise a stolen
// session could guess the account's password as fast as it can send requests, even while
// logins of the account are locked. As at login, a checked password is answered only once it
// has taken its attempt from the account's bucket (Throttle.SettlePassword), and a right one
// does not clear the count (a login does).
func reauthenticate(ctx context.Context, throttle *Throttle, hasher ports.PasswordHasher, log *slog.Logger, u domain.User, password string) error {
	if err := throttle.CheckLogin(ctx, u.ID); err != nil {
		return err
	}
	ok, _, err := checkPassword(ctx, hasher, log, u, password)
	if err != nil {
		return err
	}
	if err := throttle.SettlePassword(ctx, u.ID, ok); err != nil {
		return err
	}
	if !ok {
		return domain.ErrInvalidCredentials
	}
	return nil
}

// checkPassword verifies password against u's stored hash. A cancelled request or a hasher
// that cannot take more work is an error; a stored hash the hasher cannot read (corrupt, or of
// an unknown scheme) is logged once here with its cause and answered as a wrong password, so
// the client learns nothing and the operator learns what is wrong.
func checkPassword(ctx context.Context, hasher ports.PasswordHasher, log *slog.Logger, u domain.User, password string) (ok, rehash bool, err error) {
	ok, rehash, err = hasher.Verify(ctx, u.PasswordHash, password)
	switch {
	case err == nil:
		return ok, rehash, nil
	case ctx.Err() != nil || errors.Is(err, domain.ErrUnavailable):
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	log.ErrorContext(ctx, "stored password hash unusable; the password is refused", "user_id", u.ID, "error", err)
	return false, false, nil
}

// endCredentialLinks ends userID's outstanding reset and address-change links, after the
// password was changed or reset. A reset link must not undo the new password. An
// address-change link was asked for with the old password, perhaps by whoever learned it: the
// notice to the old address tells an owner who did not ask to change the password, and that
// must stop the change, or the link's holder moves the account to their own address and resets
// the password from there. So the address-change mail still in the outbox (not yet sent, held
// up, or failed and open to an operator's retry, any of which would make a fresh token) is
// cancelled first, and then the tokens of both purposes are spent: a token an attempt made
// before the cancel goes too. tokens and mail may be nil (tests).
func endCredentialLinks(ctx context.Context, tokens ports.OneTimeTokens, mail *MailQueue, userID string) error {
	if err := mail.cancel(ctx, userID, domain.MailConfirmEmailChange, "the password changed"); err != nil {
		return err
	}
	if tokens == nil {
		return nil
	}
	for _, p := range []domain.TokenPurpose{domain.PurposeResetPassword, domain.PurposeChangeEmail} {
		if err := tokens.DeleteByUserPurpose(ctx, userID, p); err != nil {
			return fmt.Errorf("spend %s tokens: %w", p, err)
		}
	}
	return nil
}

// tokenSpender spends emailed one-time tokens for the use cases (verification, reset, address
// change) and applies what a spent token grants to the user it names.
type tokenSpender struct {
	tokens ports.OneTimeTokens
	users  ports.UserStore
	clock  ports.Clock
	audit  *Auditor
}

// spend consumes token for purpose. A token that is not a live one of that purpose is
// domain.ErrInvalidOneTimeToken.
func (s *tokenSpender) spend(ctx context.Context, token string, purpose domain.TokenPurpose) (domain.OneTimeToken, error) {
	if token == "" || len(token) > 128 {
		return domain.OneTimeToken{}, s.refuse(ctx, purpose)
	}
	t, err := s.tokens.Consume(ctx, hashToken(token), purpose, s.clock.Now())
	if errors.Is(err, domain.ErrNotFound) {
		return domain.OneTimeToken{}, s.refuse(ctx, purpose)
	}
	if err != nil {
		return domain.OneTimeToken{}, fmt.Errorf("consume token: %w", err)
	}
	return t, nil
}

// refuse records a bad token and returns the one error for all of them.
func (s *tokenSpender) refuse(ctx context.Context, purpose domain.TokenPurpose) error {
	s.audit.record(ctx, domain.EventTokenRefused, "", "", "invalid_token", "purpose="+string(purpose))
	return domain.ErrInvalidOneTimeToken
}

// grant applies change to the user that spent token t names and stores it, retrying when a
// concurrent update got there first (retryStale). A missing or disabled user, or one the token
// no longer fits (fits false: say, the address it was mailed to is no longer the account's), is
// domain.ErrInvalidOneTimeToken. change reports whether it changed anything; when it did not,
// nothing is stored. It returns the user as stored.
func (s *tokenSpender) grant(ctx context.Context, t domain.OneTimeToken, fits func(domain.User) bool,
	change func(u *domain.User) bool) (domain.User, error) {
	var u domain.User
	err := retryStale(func() error {
		var err error
		if u, err = s.users.ByID(ctx, t.UserID); err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if u.Disabled || !fits(u) {
			return domain.ErrInvalidOneTimeToken
		}
		if !change(&u) {
			return nil
		}
		u.UpdatedAt = s.clock.Now()
		if u, err = s.users.Update(ctx, u); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return nil
	})
	if errors.Is(err, domain.ErrNotFound) {
		err = domain.ErrInvalidOneTimeToken
	}
	return u, err
}
