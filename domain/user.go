package domain

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role names what a user may do. Registration grants RoleUser only.
type Role string

// The roles Portcullis knows.
const (
	RoleUser      Role = "user"
	RoleModerator Role = "moderator"
	RoleAdmin     Role = "admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleModerator || r == RoleAdmin
}

// User is a registered account. PasswordHash is a PHC string and never leaves the core.
//
// Version is the optimistic-concurrency version of the stored row: the user store's Create
// stores 1 (whatever Version holds), and every successful Update stores Version+1, but only
// when the stored version still equals the Version given (else domain.ErrStale, nothing
// written). A copy read before someone else's Update can therefore never undo it.
type User struct {
	ID            string
	Email         string // normalised: trimmed and lower-cased; unique
	EmailVerified bool
	Username      string // optional; lower-case; unique when set
	Name          string
	Roles         []Role
	PasswordHash  string
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Version       int64
}

// HasRole reports whether u holds role r.
func (u User) HasRole(r Role) bool { return HasRole(u.Roles, r) }

// HasRole reports whether roles contains r.
func HasRole(roles []Role, r Role) bool { return slices.Contains(roles, r) }

// ActiveAdmin reports whether u is an enabled admin: the accounts of which one must always
// remain (ErrLastAdmin).
func (u User) ActiveAdmin() bool { return !u.Disabled && u.HasRole(RoleAdmin) }

// Limits on user input.
const (
	MaxEmailLength    = 254
	MaxNameLength     = 100
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9_.-]{3,32}$`)

// Every validator below has one shape: it returns nil when the value is acceptable, else a
// *FieldError naming the field, a stable code and the message a client shows. A caller whose
// field has another name renames it with FieldError.In; each message is written here once.
//
// These are the syntactic rules of an identity (length, address syntax, the username alphabet).
// Folding Unicode to one form (compatibility forms, case, the domain's IDNA form) and refusing
// invisible characters and mixed-script look-alikes needs Unicode tables beyond the standard
// library: that is ports.IdentityNormalizer's job, which runs these checks on the folded form.
// The use cases call the normaliser, never these directly.

// NormalizeEmail trims, lower-cases and checks the syntax of an email address: a bare address
// (no display name or comment) whose domain has a dot, at most MaxEmailLength bytes, no
// control character.
func NormalizeEmail(raw string) (string, *FieldError) {
	invalid := &FieldError{Field: "email", Code: "invalid_email", Message: "must be a valid email address"}
	if !utf8.ValidString(raw) { // checked before ToLower, which would replace invalid bytes
		return "", invalid
	}
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" || len(e) > MaxEmailLength || !plainText(e) {
		return "", invalid
	}
	addr, err := mail.ParseAddress(e)
	// Reject display names and comments: the whole input must be the bare address.
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", invalid
	}
	return e, nil
}

// NormalizeUsername lower-cases a username and checks it is 3–32 of [a-z0-9_.-].
func NormalizeUsername(raw string) (string, *FieldError) {
	u := strings.ToLower(strings.TrimSpace(raw))
	if !usernamePattern.MatchString(u) {
		return u, &FieldError{Field: "username", Code: "invalid_username", Message: "must be 3 to 32 characters of a-z, 0-9, _ . -"}
	}
	return u, nil
}

// ValidateName checks a display name: at most MaxNameLength characters, valid UTF-8, no control characters.
func ValidateName(name string) *FieldError {
	invalid := &FieldError{Field: "name", Code: "invalid_name",
		Message: fmt.Sprintf("must be at most %d characters, without control characters", MaxNameLength)}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength {
		return invalid
	}
	if !plainText(name) {
		return invalid
	}
	return nil
}

// ForbiddenCharacters is the error of an email address, username or name (field) holding a
// character that hides or disguises what is shown: a control character (C0, DEL, C1 such as
// U+0085), a format character (zero-width space and joiners, U+FEFF, the bidi marks,
// embeddings, overrides and isolates), a line or paragraph separator, a private-use or other
// invisible character. Its code is the field's own (invalid_email, invalid_username,
// invalid_name); the message says why.
func ForbiddenCharacters(field string) *FieldError {
	return &FieldError{Field: field, Code: "invalid_" + field,
		Message: "must not contain control, invisible or text-direction characters"}
}

// MixedScripts is the error of an email address or username (field) one part of which mixes
// letters of scripts that are not written together (a Latin "paypal" with a Cyrillic "а"): such
// a name is taken for another. Its code is the field's own; the message says why.
func MixedScripts(field string) *FieldError {
	return &FieldError{Field: field, Code: "invalid_" + field,
		Message: "mixes letters of different scripts (such as Latin and Cyrillic); use one script in each part"}
}

// LooksLatin is the error of an email address or username (field) one part of which is written
// wholly in another script (Cyrillic, Greek, ...) with letters that pass for Latin ones, such as
// a Cyrillic "аррӏе" for "apple": such a name is taken for its Latin spelling. Its code is the
// field's own; the message says why.
func LooksLatin(field string) *FieldError {
	return &FieldError{Field: field, Code: "invalid_" + field,
		Message: "is written in another script with letters that look like Latin ones, so it passes for a Latin spelling; write that part in Latin letters"}
}

// plainText reports whether s is free of control characters (C0, DEL, C1), format characters
// and line or paragraph separators: a last guard under the normaliser, which refuses these with
// ForbiddenCharacters before folding.
func plainText(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return false
		}
	}
	return true
}

// ValidatePassword applies the password policy: 8 to 128 characters of any Unicode, no
// composition rules, and not on the common-password list.
func ValidatePassword(pw string) *FieldError {
	n := utf8.RuneCountInString(pw)
	invalid := func(code, msg string) *FieldError { return &FieldError{Field: "password", Code: code, Message: msg} }
	switch {
	case !utf8.ValidString(pw):
		return invalid("invalid_password", "must be valid UTF-8")
	case n < MinPasswordLength:
		return invalid("password_too_short", fmt.Sprintf("must be at least %d characters", MinPasswordLength))
	case n > MaxPasswordLength:
		return invalid("password_too_long", fmt.Sprintf("must be at most %d characters", MaxPasswordLength))
	case IsCommonPassword(pw):
		return invalid("password_too_common", "is too common; choose another")
	}
	return nil
}

// NormalizeRoles checks roles, drops duplicates and orders them user, moderator, admin. Every
// user keeps the user role.
func NormalizeRoles(in []Role) ([]Role, *FieldError) {
	set := map[Role]bool{RoleUser: true}
	for _, r := range in {
		if !r.Valid() {
			return nil, &FieldError{Field: "roles", Code: "invalid_role", Message: "each role must be user, moderator or admin"}
		}
		set[r] = true
	}
	var out []Role
	for _, r := range []Role{RoleUser, RoleModerator, RoleAdmin} {
		if set[r] {
			out = append(out, r)
		}
	}
	return out, nil
}

// Required is the error of a required field left out or empty.
func Required(field string) *FieldError {
	return &FieldError{Field: field, Code: "required", Message: "is required"}
}
