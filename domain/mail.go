package domain

import (
	"errors"
	"time"
)

// MailKind names one kind of message Portcullis sends; each has its templates.
type MailKind string

// The kinds of mail. The first three carry a one-time link; the others are notices.
const (
	MailVerifyEmail        MailKind = "verify_email"         // a link that verifies the address
	MailResetPassword      MailKind = "reset_password"       // a link to set a new password
	MailConfirmEmailChange MailKind = "confirm_email_change" // a link, to the new address, that switches to it
	MailEmailChangeNotice  MailKind = "email_change_notice"  // to the old address: a change was asked for
	MailPasswordChanged    MailKind = "password_changed"     // the password was changed while logged in
	MailPasswordReset      MailKind = "password_reset"       // the password was reset through a link
	MailRegisterAttempt    MailKind = "register_attempt"     // someone tried to register with a taken address
)

// MailKinds lists every kind, for templates and tests.
var MailKinds = []MailKind{MailVerifyEmail, MailResetPassword, MailConfirmEmailChange, MailEmailChangeNotice,
	MailPasswordChanged, MailPasswordReset, MailRegisterAttempt}

// Purpose is the one-time-token purpose a kind's link carries, and whether it carries one.
func (k MailKind) Purpose() (TokenPurpose, bool) {
	switch k {
	case MailVerifyEmail:
		return PurposeVerifyEmail, true
	case MailResetPassword:
		return PurposeResetPassword, true
	case MailConfirmEmailChange:
		return PurposeChangeEmail, true
	}
	return "", false
}

// Throttled reports whether mails of this kind count against the per-address caps: those that
// anyone can ask for by naming an address. Security notices about the account's own actions
// are never held back.
func (k MailKind) Throttled() bool {
	switch k {
	case MailVerifyEmail, MailResetPassword, MailConfirmEmailChange, MailRegisterAttempt:
		return true
	}
	return false
}

// MailStatus is where a message of the outbox stands.
type MailStatus string

// The states of an outbox message. Pending messages are waiting for (another) attempt; the
// other three are final.
const (
	MailPending MailStatus = "pending"
	MailSent    MailStatus = "sent"
	MailFailed  MailStatus = "failed"  // every attempt failed; an operator may retry it
	MailDropped MailStatus = "dropped" // deliberately not sent (unknown address, account gone ...)
)

// OutboxMail is one message of the mail outbox. A use case queues it in the request with what
// it knows (kind, recipient, user); a delivery worker later prepares it (for a kind with a
// link: a new one-time token and the link, written together), sends it and settles it.
//
// Link holds a live one-time token until the message is settled, when it is wiped.
type OutboxMail struct {
	ID       string
	Kind     MailKind
	To       string // normalised address
	UserID   string // "" when the request named only an address (forgot password, resend)
	Name     string // the user's display name, for the greeting
	NewEmail string // for an e-mail change: the address asked for
	Link     string // set when prepared; "" once settled
	// LinkExpiresAt is when the token behind Link expires (zero without a link): the worker
	// makes a fresh link when too little of its lifetime is left.
	LinkExpiresAt time.Time
	Prepared      bool

	Status        MailStatus
	Attempts      int // claims so far
	NextAttemptAt time.Time
	LastError     string // short reason of the last failure or drop
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// ErrMailSuperseded: the message may not make a token, because a newer message of its kind for
// its account is pending or sent (see OutboxMail.Supersedes); nothing was written. Only the
// newest message of a kind may make one: an older one's token would supersede the newer
// message's, and end the link its reader is about to open.
var ErrMailSuperseded = errors.New("superseded by a newer message")

// Supersedes reports whether m, a message of the outbox, keeps old from making a token: m is of
// old's kind, pending or sent, created after old (CreatedAt, then ID: ids sort in creation
// order), and for old's account. old is being prepared, so its UserID names its account and, for
// a kind whose link goes to the account's own address, To is that address (the worker drops a
// message whose account has another). m is for that account when it names it, or when it was
// queued by the address alone and not yet prepared (UserID "", as a forgotten password or a
// resend is) to old's address: the account it will be prepared for.
func (m OutboxMail) Supersedes(old OutboxMail) bool {
	if m.Kind != old.Kind || (m.Status != MailPending && m.Status != MailSent) {
		return false
	}
	if c := m.CreatedAt.Compare(old.CreatedAt); c < 0 || (c == 0 && m.ID <= old.ID) {
		return false
	}
	if m.UserID == "" {
		return m.To == old.To
	}
	return m.UserID == old.UserID
}

// MailSettlement is the outcome of one delivery attempt.
type MailSettlement struct {
	Status        MailStatus // MailSent, MailFailed, MailDropped, or MailPending to try again
	NextAttemptAt time.Time  // for MailPending
	LastError     string
	At            time.Time
}

// OutboxQuery selects outbox messages, newest first.
type OutboxQuery struct {
	Status MailStatus // "" for all
	Limit  int
}
