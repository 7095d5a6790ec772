package domain

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
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

// Limits on user input.
const (
	MaxEmailLength    = 254
	MaxNameLength     = 100
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9_.-]{3,32}$`)

// NormalizeEmail trims, lower-cases and checks an email address. Two inputs that differ only in
// case or surrounding space normalise to the same identity.
func NormalizeEmail(raw string) (string, error) {
	if !utf8.ValidString(raw) { // checked before ToLower, which would replace invalid bytes
		return "", invalidEmail()
	}
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" || len(e) > MaxEmailLength {
		return "", invalidEmail()
	}
	addr, err := mail.ParseAddress(e)
	// Reject display names and comments: the whole input must be the bare address.
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", invalidEmail()
	}
	return e, nil
}

func invalidEmail() error {
	v := &ValidationError{}
	v.Add("email", "invalid_email", "must be a valid email address")
	return v
}

// NormalizeUsername lower-cases a username and checks it is 3–32 of [a-z0-9_.-].
func NormalizeUsername(raw string) (string, bool) {
	u := strings.ToLower(strings.TrimSpace(raw))
	return u, usernamePattern.MatchString(u)
}

// ValidateName checks a display name: at most MaxNameLength characters, valid UTF-8, no control characters.
func ValidateName(name string) bool {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLength {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// ValidatePassword applies the password policy: 8 to 128 characters of any Unicode, no
// composition rules, and not on the common-password list. It returns the field code on failure.
func ValidatePassword(pw string) (code, message string, ok bool) {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return "invalid_password", "must be valid UTF-8", false
	case n < MinPasswordLength:
		return "password_too_short", "must be at least 8 characters", false
	case n > MaxPasswordLength:
		return "password_too_long", "must be at most 128 characters", false
	case IsCommonPassword(pw):
		return "password_too_common", "is too common; choose another", false
	}
	return "", "", true
}
