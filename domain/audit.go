package domain

import "time"

// AuditEvent names a security event kept in the audit trail.
type AuditEvent string

// The security events Portcullis records.
const (
	EventRegister       AuditEvent = "register"
	EventLoginSuccess   AuditEvent = "login_success"
	EventLoginFailure   AuditEvent = "login_failure"
	EventRefreshReuse   AuditEvent = "refresh_reuse"
	EventLogout         AuditEvent = "logout"
	EventLogoutAll      AuditEvent = "logout_all"
	EventPasswordChange AuditEvent = "password_change"
	EventRoleChange     AuditEvent = "role_change"
	EventUserDisable    AuditEvent = "user_disable"
	EventUserEnable     AuditEvent = "user_enable"
	EventUserUpdate     AuditEvent = "user_update"
	EventUserDelete     AuditEvent = "user_delete"
	EventSessionRevoke  AuditEvent = "session_revoke"
	EventKeyRotation    AuditEvent = "key_rotation"
	EventUserUnlock     AuditEvent = "user_unlock"
	EventEmailVerified  AuditEvent = "email_verified"
	EventPasswordReset  AuditEvent = "password_reset"
	EventEmailChangeAsk AuditEvent = "email_change_request"
	EventEmailChange    AuditEvent = "email_change"
	EventTokenRefused   AuditEvent = "one_time_token_refused"
	EventMFAEnrol       AuditEvent = "mfa_enrol"          // a second factor added (outcome "pending" or "ok")
	EventMFASuccess     AuditEvent = "mfa_success"        // a second factor accepted at login
	EventMFAFailure     AuditEvent = "mfa_failure"        // a wrong or replayed code
	EventMFARemove      AuditEvent = "mfa_remove"         // the user removed a second factor
	EventMFAReset       AuditEvent = "mfa_reset"          // an administrator removed every factor of a user
	EventRecoveryCodes  AuditEvent = "mfa_recovery_codes" // recovery codes (re)generated
)

// AuditRecord is one row of the audit trail. It never holds a password, token or hash.
type AuditRecord struct {
	ID        string // time-ordered; the cursor for paging
	Time      time.Time
	Event     AuditEvent
	ActorID   string // who did it: the user themself, an admin, or "" for the operator CLI / anonymous
	SubjectID string // whom it was done to ("" when unknown, e.g. a failed login for no account)
	IP        string
	UserAgent string
	Outcome   string // "ok", or a short reason such as "bad_password", "disabled", "unknown_account"
	Detail    string // short non-secret context, e.g. "roles=user,moderator"
}

// UserQuery selects a page of users for administration, in creation order.
type UserQuery struct {
	Limit int
	// After is the keyset cursor: users created strictly after (CreatedAt, ID) of the last user
	// of the previous page. Zero for the first page.
	AfterCreatedAt time.Time
	AfterID        string
	// Q matches a substring of email, username or name (case-insensitive); "" matches all.
	Q string
	// Role keeps users holding that role; "" keeps all.
	Role Role
	// Disabled keeps disabled (true) or enabled (false) users; nil keeps both.
	Disabled *bool
}

// AuditQuery selects a page of audit records, newest first.
type AuditQuery struct {
	Limit int
	// BeforeID is the cursor: records older than this id. "" for the first page.
	BeforeID string
	// UserID keeps records whose actor or subject is this user; "" keeps all.
	UserID string
	// Event keeps one kind of event; "" keeps all.
	Event AuditEvent
}
