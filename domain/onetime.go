package domain

import "time"

// TokenPurpose says what a one-time token is for; a token of one purpose never works for another.
type TokenPurpose string

// The purposes of one-time tokens.
const (
	PurposeVerifyEmail   TokenPurpose = "verify_email"
	PurposeResetPassword TokenPurpose = "reset_password"
)

// OneTimeToken is an emailed single-use token (email verification, password reset). The token
// itself is never stored: Hash is its SHA-256. Creating a token for a user and purpose
// supersedes every earlier one of that user and purpose.
type OneTimeToken struct {
	Hash      []byte
	UserID    string
	Purpose   TokenPurpose
	CreatedAt time.Time
	ExpiresAt time.Time
}
