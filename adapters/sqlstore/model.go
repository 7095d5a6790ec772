package sqlstore

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/uptrace/bun"
)

// Row structs mirror the tables created by the migrations. Only they carry bun tags; converters
// below move values to and from the domain types. Times are stored in UTC with microsecond
// precision on every engine.

type userRow struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID            string    `bun:"id,pk"`
	Email         string    `bun:"email"`
	EmailVerified bool      `bun:"email_verified"`
	Username      string    `bun:"username,nullzero"` // NULL when unset, so many users may lack one
	Name          string    `bun:"name"`
	Roles         string    `bun:"roles"`
	PasswordHash  string    `bun:"password_hash"`
	Disabled      bool      `bun:"disabled"`
	CreatedAt     time.Time `bun:"created_at"`
	UpdatedAt     time.Time `bun:"updated_at"`
	Version       int64     `bun:"version"` // optimistic concurrency: see Users.Update
}

func userToRow(u domain.User) userRow {
	return userRow{
		ID:            u.ID,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Username:      u.Username,
		Name:          u.Name,
		Roles:         rolesToText(u.Roles),
		PasswordHash:  u.PasswordHash,
		Disabled:      u.Disabled,
		CreatedAt:     dbTime(u.CreatedAt),
		UpdatedAt:     dbTime(u.UpdatedAt),
		Version:       u.Version,
	}
}

func (r userRow) toDomain() domain.User {
	return domain.User{
		ID:            r.ID,
		Email:         r.Email,
		EmailVerified: r.EmailVerified,
		Username:      r.Username,
		Name:          r.Name,
		Roles:         rolesFromText(r.Roles),
		PasswordHash:  r.PasswordHash,
		Disabled:      r.Disabled,
		CreatedAt:     domainTime(r.CreatedAt),
		UpdatedAt:     domainTime(r.UpdatedAt),
		Version:       r.Version,
	}
}

// adminGuardRow is the one row of admin_guard (migration 20261202000100), which every
// transaction that may take away an enabled admin writes first (Users.inAdminGuard).
type adminGuardRow struct {
	bun.BaseModel `bun:"table:admin_guard,alias:g"`

	ID    int64 `bun:"id,pk"`
	Taken int64 `bun:"taken"` // how often the guard was taken; written only to take the row's lock
}

type sessionRow struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	ID            string    `bun:"id,pk"`
	UserID        string    `bun:"user_id"`
	Roles         string    `bun:"roles"`
	RefreshHash   []byte    `bun:"refresh_hash"`
	PrevHash      []byte    `bun:"prev_hash,nullzero"`
	Retired       []byte    `bun:"retired,nullzero"` // migration 20250601000004; NULL until the second rotation
	Successor     []byte    `bun:"successor,nullzero"`
	RotatedAt     time.Time `bun:"rotated_at,nullzero"`
	Generation    int       `bun:"generation"`
	CreatedAt     time.Time `bun:"created_at"`
	LastUsedAt    time.Time `bun:"last_used_at"`
	IdleExpiresAt time.Time `bun:"idle_expires_at"`
	AbsExpiresAt  time.Time `bun:"abs_expires_at"`
	IP            string    `bun:"ip"`
	UserAgent     string    `bun:"user_agent"`
	AMR           string    `bun:"amr"` // migration 20261129001501: methods joined by commas
}

// Column limits of the sessions table; longer client-supplied values are cut, not refused.
const (
	maxIPLength        = 64
	maxUserAgentLength = 512
)

func sessionToRow(s domain.Session) sessionRow {
	refresh := s.RefreshHash
	if refresh == nil {
		refresh = []byte{} // the column is NOT NULL
	}
	return sessionRow{
		ID:            s.ID,
		UserID:        s.UserID,
		Roles:         rolesToText(s.Roles),
		RefreshHash:   refresh,
		PrevHash:      s.PrevHash,
		Retired:       emptyAsNil(s.Retired),
		Successor:     s.Successor,
		RotatedAt:     dbTime(s.RotatedAt),
		Generation:    s.Generation,
		CreatedAt:     dbTime(s.CreatedAt),
		LastUsedAt:    dbTime(s.LastUsedAt),
		IdleExpiresAt: dbTime(s.IdleExpiresAt),
		AbsExpiresAt:  dbTime(s.AbsExpiresAt),
		IP:            truncateUTF8(s.IP, maxIPLength),
		UserAgent:     truncateUTF8(s.UserAgent, maxUserAgentLength),
		AMR:           strings.Join(s.AMR, ","),
	}
}

func (r sessionRow) toDomain() domain.Session {
	return domain.Session{
		ID:            r.ID,
		UserID:        r.UserID,
		Roles:         rolesFromText(r.Roles),
		RefreshHash:   r.RefreshHash,
		PrevHash:      emptyAsNil(r.PrevHash),
		Retired:       emptyAsNil(r.Retired),
		Successor:     emptyAsNil(r.Successor),
		RotatedAt:     domainTime(r.RotatedAt),
		Generation:    r.Generation,
		CreatedAt:     domainTime(r.CreatedAt),
		LastUsedAt:    domainTime(r.LastUsedAt),
		IdleExpiresAt: domainTime(r.IdleExpiresAt),
		AbsExpiresAt:  domainTime(r.AbsExpiresAt),
		IP:            r.IP,
		UserAgent:     r.UserAgent,
		AMR:           splitList(r.AMR),
	}
}

// splitList reverses strings.Join(list, ","), "" being the empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

type keyRow struct {
	bun.BaseModel `bun:"table:signing_keys,alias:k"`

	ID        string    `bun:"id,pk"`
	Algorithm string    `bun:"algorithm"`
	Private   []byte    `bun:"private"`
	CreatedAt time.Time `bun:"created_at"`
	RetiredAt time.Time `bun:"retired_at,nullzero"` // NULL for the active key
}

func keyToRow(k domain.SigningKey) keyRow {
	private := k.Private
	if private == nil {
		private = []byte{}
	}
	return keyRow{
		ID:        k.ID,
		Algorithm: k.Algorithm,
		Private:   private,
		CreatedAt: dbTime(k.CreatedAt),
		RetiredAt: dbTime(k.RetiredAt),
	}
}

func (r keyRow) toDomain() domain.SigningKey {
	return domain.SigningKey{
		ID:        r.ID,
		Algorithm: r.Algorithm,
		Private:   r.Private,
		CreatedAt: domainTime(r.CreatedAt),
		RetiredAt: domainTime(r.RetiredAt),
	}
}

// rolesToText stores roles as comma-separated text ("user,admin"); role names hold no commas.
func rolesToText(roles []domain.Role) string {
	parts := make([]string, 0, len(roles))
	for _, r := range roles {
		if r != "" {
			parts = append(parts, string(r))
		}
	}
	return strings.Join(parts, ",")
}

func rolesFromText(s string) []domain.Role {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	roles := make([]domain.Role, 0, len(parts))
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			roles = append(roles, domain.Role(p))
		}
	}
	return roles
}

// dbTime is t in UTC at the microsecond precision every engine keeps, so that what is written is
// exactly what is read back and compared. The zero time stays zero (NULL where nullable).
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func domainTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func emptyAsNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// auditRow mirrors the audit_events table.
type auditRow struct {
	bun.BaseModel `bun:"table:audit_events,alias:a"`

	ID        string    `bun:"id,pk"`
	Time      time.Time `bun:"time"`
	Event     string    `bun:"event"`
	ActorID   string    `bun:"actor_id"`
	SubjectID string    `bun:"subject_id"`
	IP        string    `bun:"ip"`
	UserAgent string    `bun:"user_agent"`
	Outcome   string    `bun:"outcome"`
	Detail    string    `bun:"detail"`
}

// Column limits of the audit_events table; longer values are cut, not refused, so that an
// oversized client header or detail never loses the event itself. IP and user agent share the
// limits of the sessions table.
const (
	maxOutcomeLength = 64
	maxDetailLength  = 1024
)

func auditToRow(r domain.AuditRecord) auditRow {
	return auditRow{
		ID:        r.ID,
		Time:      dbTime(r.Time),
		Event:     string(r.Event),
		ActorID:   r.ActorID,
		SubjectID: r.SubjectID,
		IP:        truncateUTF8(r.IP, maxIPLength),
		UserAgent: truncateUTF8(r.UserAgent, maxUserAgentLength),
		Outcome:   truncateUTF8(r.Outcome, maxOutcomeLength),
		Detail:    truncateUTF8(r.Detail, maxDetailLength),
	}
}

func (r auditRow) toDomain() domain.AuditRecord {
	return domain.AuditRecord{
		ID:        r.ID,
		Time:      domainTime(r.Time),
		Event:     domain.AuditEvent(r.Event),
		ActorID:   r.ActorID,
		SubjectID: r.SubjectID,
		IP:        r.IP,
		UserAgent: r.UserAgent,
		Outcome:   r.Outcome,
		Detail:    r.Detail,
	}
}

// oneTimeTokenRow mirrors the one_time_tokens table.
type oneTimeTokenRow struct {
	bun.BaseModel `bun:"table:one_time_tokens,alias:ott"`

	Hash      []byte    `bun:"hash,pk"`
	UserID    string    `bun:"user_id"`
	Purpose   string    `bun:"purpose"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
	NewEmail  string    `bun:"new_email"` // migration 20261129000901
}

func oneTimeTokenToRow(t domain.OneTimeToken) oneTimeTokenRow {
	hash := t.Hash
	if hash == nil {
		hash = []byte{} // the column is NOT NULL
	}
	return oneTimeTokenRow{
		Hash:      hash,
		UserID:    t.UserID,
		Purpose:   string(t.Purpose),
		CreatedAt: dbTime(t.CreatedAt),
		ExpiresAt: dbTime(t.ExpiresAt),
		NewEmail:  t.NewEmail,
	}
}

func (r oneTimeTokenRow) toDomain() domain.OneTimeToken {
	return domain.OneTimeToken{
		Hash:      r.Hash,
		UserID:    r.UserID,
		Purpose:   domain.TokenPurpose(r.Purpose),
		CreatedAt: domainTime(r.CreatedAt),
		ExpiresAt: domainTime(r.ExpiresAt),
		NewEmail:  r.NewEmail,
	}
}

// outboxRow mirrors the mail_outbox table (migrations 20261129000900, 20261202000900; its
// indexes also 20261202001000).
type outboxRow struct {
	bun.BaseModel `bun:"table:mail_outbox,alias:mo"`

	ID            string    `bun:"id,pk"`
	Kind          string    `bun:"kind"`
	To            string    `bun:"to_addr"`
	UserID        string    `bun:"user_id"`
	Name          string    `bun:"name"`
	NewEmail      string    `bun:"new_email"`
	Link          string    `bun:"link"`
	LinkExpiresAt time.Time `bun:"link_expires_at,nullzero"` // NULL without a link
	Prepared      bool      `bun:"prepared"`
	Status        string    `bun:"status"`
	Attempts      int       `bun:"attempts"`
	NextAttemptAt time.Time `bun:"next_attempt_at"`
	LeaseOwner    string    `bun:"lease_owner"`
	LeaseUntil    time.Time `bun:"lease_until,nullzero"`
	LastError     string    `bun:"last_error"`
	CreatedAt     time.Time `bun:"created_at"`
	UpdatedAt     time.Time `bun:"updated_at"`
}

// Column limits of mail_outbox that a value may exceed; longer values are cut.
const (
	maxMailNameLength  = 255
	maxMailErrorLength = 512
)

func outboxToRow(m domain.OutboxMail) outboxRow {
	next := m.NextAttemptAt
	if next.IsZero() {
		next = m.CreatedAt
	}
	updated := m.UpdatedAt
	if updated.IsZero() {
		updated = m.CreatedAt
	}
	status := m.Status
	if status == "" {
		status = domain.MailPending
	}
	return outboxRow{
		ID:            m.ID,
		Kind:          string(m.Kind),
		To:            m.To,
		UserID:        m.UserID,
		Name:          truncateUTF8(m.Name, maxMailNameLength),
		NewEmail:      m.NewEmail,
		Link:          m.Link,
		LinkExpiresAt: dbTime(m.LinkExpiresAt),
		Prepared:      m.Prepared,
		Status:        string(status),
		Attempts:      m.Attempts,
		NextAttemptAt: dbTime(next),
		LastError:     truncateUTF8(m.LastError, maxMailErrorLength),
		CreatedAt:     dbTime(m.CreatedAt),
		UpdatedAt:     dbTime(updated),
	}
}

func (r outboxRow) toDomain() domain.OutboxMail {
	return domain.OutboxMail{
		ID:            r.ID,
		Kind:          domain.MailKind(r.Kind),
		To:            r.To,
		UserID:        r.UserID,
		Name:          r.Name,
		NewEmail:      r.NewEmail,
		Link:          r.Link,
		LinkExpiresAt: domainTime(r.LinkExpiresAt),
		Prepared:      r.Prepared,
		Status:        domain.MailStatus(r.Status),
		Attempts:      r.Attempts,
		NextAttemptAt: domainTime(r.NextAttemptAt),
		LastError:     r.LastError,
		CreatedAt:     domainTime(r.CreatedAt),
		UpdatedAt:     domainTime(r.UpdatedAt),
	}
}

// totpRow mirrors the mfa_totp table (migration 20261129001500).
type totpRow struct {
	bun.BaseModel `bun:"table:mfa_totp,alias:mt"`

	UserID      string    `bun:"user_id,pk"`
	Secret      []byte    `bun:"secret"`
	Confirmed   bool      `bun:"confirmed"`
	CreatedAt   time.Time `bun:"created_at"`
	ConfirmedAt time.Time `bun:"confirmed_at,nullzero"` // NULL while pending
	LastStep    int64     `bun:"last_step"`
}

func totpToRow(f domain.TOTPFactor) totpRow {
	return totpRow{
		UserID:      f.UserID,
		Secret:      f.Secret,
		Confirmed:   f.Confirmed,
		CreatedAt:   dbTime(f.CreatedAt),
		ConfirmedAt: dbTime(f.ConfirmedAt),
		LastStep:    f.LastStep,
	}
}

func (r totpRow) toDomain() domain.TOTPFactor {
	return domain.TOTPFactor{
		UserID:      r.UserID,
		Secret:      r.Secret,
		Confirmed:   r.Confirmed,
		CreatedAt:   domainTime(r.CreatedAt),
		ConfirmedAt: domainTime(r.ConfirmedAt),
		LastStep:    r.LastStep,
	}
}

// recoveryCodeRow mirrors the recovery_codes table (migration 20261129001500).
type recoveryCodeRow struct {
	bun.BaseModel `bun:"table:recovery_codes,alias:rc"`

	UserID    string    `bun:"user_id,pk"`
	Hash      []byte    `bun:"hash,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

// challengeRow mirrors the challenges table (migration 20261129001500).
type challengeRow struct {
	bun.BaseModel `bun:"table:challenges,alias:ch"`

	Purpose   string    `bun:"purpose,pk"`
	Hash      []byte    `bun:"hash,pk"`
	UserID    string    `bun:"user_id"`
	Data      []byte    `bun:"data"`
	Attempts  int       `bun:"attempts"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

func challengeToRow(c domain.Challenge) challengeRow {
	return challengeRow{
		Purpose:   string(c.Purpose),
		Hash:      c.Hash,
		UserID:    c.UserID,
		Data:      c.Data,
		Attempts:  c.Attempts,
		CreatedAt: dbTime(c.CreatedAt),
		ExpiresAt: dbTime(c.ExpiresAt),
	}
}

func (r challengeRow) toDomain() domain.Challenge {
	return domain.Challenge{
		Hash:      r.Hash,
		Purpose:   domain.ChallengePurpose(r.Purpose),
		UserID:    r.UserID,
		Data:      emptyAsNil(r.Data),
		Attempts:  r.Attempts,
		CreatedAt: domainTime(r.CreatedAt),
		ExpiresAt: domainTime(r.ExpiresAt),
	}
}
