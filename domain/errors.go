package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Domain errors cross every port. Adapters translate driver errors into these; the HTTP adapter
// maps them to problem+json in one place.
var (
	// ErrNotFound: the user, session or token asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique value (email, username, id) is already taken.
	ErrConflict = errors.New("conflict")
	// ErrStale: an optimistic update lost a race; the record changed (its version moved on)
	// since the caller read it, and nothing was written. The caller re-reads and retries, or
	// gives up. It is deliberately not ErrConflict (no unique value is taken).
	ErrStale = errors.New("stale: the record changed since it was read")
	// ErrInvalidCredentials: unknown login, wrong password or disabled account; deliberately one error.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnauthenticated: a missing, malformed, expired or otherwise unacceptable token.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrSessionRevoked: the session behind a token is gone (logged out, expired or revoked).
	ErrSessionRevoked = errors.New("session revoked")
	// ErrInvalidRefreshToken: a refresh token that cannot be used: malformed, unknown, expired,
	// or retired (then the error also matches ErrRefreshReuse). It matches ErrUnauthenticated.
	ErrInvalidRefreshToken = fmt.Errorf("invalid refresh token: %w", ErrUnauthenticated)
	// ErrRefreshReuse: a retired refresh token was presented; the session has been revoked.
	ErrRefreshReuse = errors.New("refresh token reuse")
	// ErrForbidden: authenticated but not allowed (role, disabled account, ownership).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidOneTimeToken: an emailed token that is unknown, used, expired, superseded or of
	// another purpose; deliberately one error for all of them.
	ErrInvalidOneTimeToken = errors.New("invalid one-time token")
	// ErrEmailNotVerified: the account's address must be verified before it may log in.
	ErrEmailNotVerified = errors.New("email not verified")
	// ErrStaticKeys: the token-signing keys come from a file or a secret, so Portcullis cannot
	// rotate them; the operator rotates them outside.
	ErrStaticKeys = errors.New("signing keys are static (key file or secret); rotate them outside Portcullis")
	// ErrUnavailable: a backing store cannot be reached. Adapters wrap their driver error with it.
	ErrUnavailable = errors.New("store unavailable")
	// ErrLastAdmin: the change would demote, disable or delete the only enabled admin (see
	// User.ActiveAdmin); nothing was written. It matches ErrConflict.
	ErrLastAdmin = fmt.Errorf("%w: the last admin cannot be demoted, disabled or deleted", ErrConflict)
)

// FieldError is one invalid input field with a stable machine-readable code, what every
// validator of this package returns. As an error it reads as a ValidationError of this one
// field (errors.As to *ValidationError succeeds), so a use case may return it as it is.
type FieldError struct {
	Field   string
	Code    string
	Message string
}

// Error names the field and its code.
func (e *FieldError) Error() string { return "validation failed: " + e.Field + ": " + e.Code }

// As lets errors.As see a FieldError as a *ValidationError holding it alone.
func (e *FieldError) As(target any) bool {
	if v, ok := target.(**ValidationError); ok {
		*v = &ValidationError{Fields: []FieldError{*e}}
		return true
	}
	return false
}

// In returns a copy of e for another field name (a password validated as new_password).
func (e *FieldError) In(field string) *FieldError {
	c := *e
	c.Field = field
	return &c
}

// ValidationError lists every invalid field of one input.
type ValidationError struct {
	Fields []FieldError
}

// Error summarises the invalid fields.
func (e *ValidationError) Error() string {
	names := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		names[i] = f.Field + ": " + f.Code
	}
	return fmt.Sprintf("validation failed: %s", strings.Join(names, ", "))
}

// Add records one invalid field.
func (e *ValidationError) Add(field, code, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Code: code, Message: message})
}

// Put records f when it is not nil (the result of a validator).
func (e *ValidationError) Put(f *FieldError) {
	if f != nil {
		e.Fields = append(e.Fields, *f)
	}
}

// Err returns e when it holds at least one field, nil otherwise.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

// ConflictError says which unique value is taken ("email", "username"). It matches
// ErrConflict with errors.Is, so callers that only care about a conflict need not know it.
type ConflictError struct {
	Field string
}

// Error names the taken field.
func (e *ConflictError) Error() string { return e.Field + " is already taken" }

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
