package domain

import "time"

// TokenPurpose says what a one-time token is for; a token of one purpose never works for another.
type TokenPurpose string

// The purposes of one-time tokens.
const (
	PurposeVerifyEmail   TokenPurpose = "verify_email"
	PurposeResetPassword TokenPurpose = "reset_password"
	PurposeChangeEmail   TokenPurpose = "change_email"
)

// OneTimeToken is an emailed single-use token (email verification, password reset, e-mail
// change). The token itself is never stored: Hash is its SHA-256. Creating a token for a user
// and purpose supersedes every earlier one of that user and purpose. NewEmail is the address an
// e-mail change token switches to ("" for the other purposes).
type OneTimeToken struct {
	Hash      []byte
	UserID    string
	Purpose   TokenPurpose
	CreatedAt time.Time
	ExpiresAt time.Time
	NewEmail  string
}
