package application

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Operator is the principal of the operator's command line: it acts as an admin with no user
// behind it, so the audit trail records an empty actor.
var Operator = Principal{Roles: []domain.Role{domain.RoleAdmin}}

// ListUsersInput selects a page of users. Cursor is the NextCursor of the previous page.
type ListUsersInput struct {
	Limit    int
	Cursor   string
	Q        string
	Role     string
	Disabled *bool
}

// ListUsersOutput is one page of users in creation order.
type ListUsersOutput struct {
	Users      []UserView
	NextCursor string // "" on the last page
}

// AdminUpdateInput changes another user's account. Nil fields stay as they are.
type AdminUpdateInput struct {
	Roles         *[]domain.Role
	Disabled      *bool
	EmailVerified *bool
	Name          *string
}

// CreateUserInput is an account made by an administrator or the operator, with any roles.
type CreateUserInput struct {
	Email    string
	Password string
	Name     string
	Username string
	Roles    []domain.Role
}

// Admin is the administration of users: list, read, change roles and state, delete. Admins may
// do all of it; moderators may read. Every change is audited, and a change of roles or a
// disable reaches the user's live sessions at once.
type Admin struct {
	users     ports.UserStore
	directory ports.UserDirectory
	sessions  ports.SessionStore
	accounts  *accounts
	audit     *Auditor
	clock     ports.Clock
	mail      *MailQueue
	log       *slog.Logger
}

// NewAdmin wires the administration use case. mail may be nil (no verification mail to re-send).
func NewAdmin(users ports.UserStore, directory ports.UserDirectory, sessions ports.SessionStore, register *Register,
	audit *Auditor, clock ports.Clock, mail *MailQueue, log *slog.Logger) *Admin {
	return &Admin{users: users, directory: directory, sessions: sessions, accounts: register.accounts, audit: audit, clock: clock, mail: mail, log: log}
}

// ErrAlreadyVerified refuses to re-send a verification mail to a verified address.
var ErrAlreadyVerified = fmt.Errorf("%w: the address is already verified", domain.ErrConflict)

// ResendVerification queues a new verification mail to user id's address (superseding any
// earlier link), past the per-address caps: an administrator asked for it. Only admins may.
func (a *Admin) ResendVerification(ctx context.Context, actor Principal, id string) error {
	if !actor.HasRole(domain.RoleAdmin) {
		return domain.ErrForbidden
	}
	u, err := a.users.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if u.EmailVerified {
		return ErrAlreadyVerified
	}
	if err := a.mail.queueMails(ctx, false, domain.OutboxMail{Kind: domain.MailVerifyEmail, To: u.Email, UserID: u.ID, Name: u.Name}); err != nil {
		return err
	}
	a.audit.record(ctx, domain.EventUserUpdate, actor.UserID, u.ID, "ok", "verification_resent")
	return nil
}

func canRead(p Principal) bool { return p.HasRole(domain.RoleAdmin) || p.HasRole(domain.RoleModerator) }

// List returns a page of users matching in. Admins and moderators may list.
func (a *Admin) List(ctx context.Context, actor Principal, in ListUsersInput) (ListUsersOutput, error) {
	if !canRead(actor) {
		return ListUsersOutput{}, domain.ErrForbidden
	}
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return ListUsersOutput{}, err
	}
	q := domain.UserQuery{Limit: limit + 1, Q: strings.TrimSpace(in.Q), Disabled: in.Disabled}
	if len(q.Q) > 254 {
		return ListUsersOutput{}, invalidField("q", "invalid_query", "must be at most 254 characters")
	}
	if in.Role != "" {
		if q.Role = domain.Role(in.Role); !q.Role.Valid() {
			return ListUsersOutput{}, invalidField("role", "invalid_role", "must be user, moderator or admin")
		}
	}
	if in.Cursor != "" {
		if q.AfterCreatedAt, q.AfterID, err = decodeUserCursor(in.Cursor); err != nil {
			return ListUsersOutput{}, invalidCursor()
		}
	}
	users, err := a.directory.List(ctx, q)
	if err != nil {
		return ListUsersOutput{}, fmt.Errorf("list users: %w", err)
	}
	var out ListUsersOutput
	if len(users) > limit {
		users = users[:limit]
		last := users[limit-1]
		out.NextCursor = encodeUserCursor(last.CreatedAt, last.ID)
	}
	out.Users = viewsOf(users)
	return out, nil
}

// Get returns one user. Admins and moderators may read.
func (a *Admin) Get(ctx context.Context, actor Principal, id string) (UserOutput, error) {
	if !canRead(actor) {
		return UserOutput{}, domain.ErrForbidden
	}
	u, err := a.users.ByID(ctx, id)
	if err != nil {
		return UserOutput{}, fmt.Errorf("load user: %w", err)
	}
	return userOutput(u), nil
}

// ByEmail returns the user an email address names, found as a login finds it (by the
// normalised address, or an account left under its stored spelling). An address the normaliser
// refuses and no account holds is its *domain.FieldError. Admins and moderators may read.
func (a *Admin) ByEmail(ctx context.Context, actor Principal, email string) (UserOutput, error) {
	if !canRead(actor) {
		return UserOutput{}, domain.ErrForbidden
	}
	u, _, invalid, err := findByEmail(ctx, a.users, a.accounts.idn, email)
	switch {
	case invalid != nil:
		return UserOutput{}, invalid
	case err != nil:
		return UserOutput{}, fmt.Errorf("load user: %w", err)
	}
	return userOutput(u), nil
}

// Create makes a user with the given roles (the operator's first admin, or an admin's invite).
func (a *Admin) Create(ctx context.Context, actor Principal, in CreateUserInput) (UserOutput, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return UserOutput{}, domain.ErrForbidden
	}
	roles, invalid := domain.NormalizeRoles(in.Roles)
	if invalid != nil {
		return UserOutput{}, invalid
	}
	out, err := a.accounts.create(ctx, RegisterInput{Email: in.Email, Password: in.Password, Name: in.Name, Username: in.Username}, roles)
	if err != nil {
		return UserOutput{}, err
	}
	a.audit.record(ctx, domain.EventRegister, actor.UserID, out.User.ID, "ok", "roles="+joinRoles(roles))
	return out, nil
}

// Update applies in to user id. Only admins may change users. Roles reach the user's live
// sessions at once; disabling ends every session. The last enabled admin cannot be demoted or
// disabled (domain.ErrLastAdmin), however many such changes run at once. If the user changes
// concurrently, in is re-applied to the new state (up to staleAttempts times, then
// domain.ErrStale): a concurrent change is never undone.
func (a *Admin) Update(ctx context.Context, actor Principal, id string, in AdminUpdateInput) (UserOutput, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return UserOutput{}, domain.ErrForbidden
	}
	change, err := a.adminChange(in)
	if err != nil {
		return UserOutput{}, err
	}
	var before, u domain.User
	err = retryStale(func() error {
		var err error
		if u, err = a.users.ByID(ctx, id); err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		before = u
		change(&u)
		u.UpdatedAt = a.clock.Now()
		write := a.users.Update
		if before.ActiveAdmin() && !u.ActiveAdmin() {
			// The store counts the other admins and writes in one step: of two admins
			// demoting each other at once, one stays.
			write = a.users.UpdateUnlessLastAdmin
		}
		if u, err = write(ctx, u); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return nil
	})
	if err != nil {
		return UserOutput{}, err
	}
	// The change is stored: it is audited even if the sessions cannot follow it now (the same
	// update sent again completes it, and records nothing more, as it changes nothing more).
	a.recordUpdate(ctx, actor, before, u)
	if err := a.followSessions(ctx, u); err != nil {
		return UserOutput{}, err
	}
	return userOutput(u), nil
}

// adminChange validates in once and returns the change it makes to a user, which Update
// applies to each fresh read of the user.
func (a *Admin) adminChange(in AdminUpdateInput) (func(u *domain.User), error) {
	var name string
	if in.Name != nil {
		var invalid *domain.FieldError
		if name, invalid = a.accounts.idn.Name(*in.Name); invalid != nil {
			return nil, invalid
		}
	}
	var roles []domain.Role
	if in.Roles != nil {
		var invalid *domain.FieldError
		if roles, invalid = domain.NormalizeRoles(*in.Roles); invalid != nil {
			return nil, invalid
		}
	}
	return func(u *domain.User) {
		if in.Roles != nil {
			u.Roles = roles
		}
		if in.Disabled != nil {
			u.Disabled = *in.Disabled
		}
		if in.EmailVerified != nil {
			u.EmailVerified = *in.EmailVerified
		}
		if in.Name != nil {
			u.Name = name
		}
	}, nil
}

// followSessions brings the user's live sessions in line with u, the user as an update stored
// it: a disabled user's sessions end, an enabled user's sessions get the stored roles. The
// roles are set whether or not this update changed them: when setting them failed (a 503, the
// user already written), the same update sent again must complete the change, though the
// stored roles no longer differ. And as another update may store other roles after this one
// and reach the sessions before it, the user is read again after each SetRoles until the
// sessions hold what is stored (up to staleAttempts times, then domain.ErrStale).
func (a *Admin) followSessions(ctx context.Context, u domain.User) error {
	for range staleAttempts {
		if u.Disabled {
			if _, err := a.sessions.DeleteByUser(ctx, u.ID, a.clock.Now()); err != nil {
				return fmt.Errorf("end sessions of a disabled user: %w", err)
			}
			return nil
		}
		if err := a.sessions.SetRoles(ctx, u.ID, u.Roles); err != nil {
			return fmt.Errorf("update session roles: %w", err)
		}
		stored, err := a.users.ByID(ctx, u.ID)
		switch {
		case isNotFound(err):
			return nil // deleted meanwhile: the deletion ends the sessions
		case err != nil:
			return fmt.Errorf("load user: %w", err)
		case !stored.Disabled && slices.Equal(stored.Roles, u.Roles):
			return nil
		}
		u = stored
	}
	return fmt.Errorf("update session roles: %w", domain.ErrStale)
}

// recordUpdate audits what an update from before to u changed: roles, the enabled state, and
// the other fields.
func (a *Admin) recordUpdate(ctx context.Context, actor Principal, before, u domain.User) {
	if !slices.Equal(before.Roles, u.Roles) {
		a.audit.record(ctx, domain.EventRoleChange, actor.UserID, u.ID, "ok", "roles="+joinRoles(before.Roles)+" -> "+joinRoles(u.Roles))
	}
	if before.Disabled != u.Disabled {
		ev := domain.EventUserEnable
		if u.Disabled {
			ev = domain.EventUserDisable
		}
		a.audit.record(ctx, ev, actor.UserID, u.ID, "ok", "")
	}
	if before.EmailVerified != u.EmailVerified || before.Name != u.Name {
		a.audit.record(ctx, domain.EventUserUpdate, actor.UserID, u.ID, "ok", fmt.Sprintf("email_verified=%t", u.EmailVerified))
	}
}

// Delete removes user id and ends their sessions. Only admins may delete; the last enabled
// admin cannot be deleted (domain.ErrLastAdmin), however many such changes run at once.
func (a *Admin) Delete(ctx context.Context, actor Principal, id string) error {
	if !actor.HasRole(domain.RoleAdmin) {
		return domain.ErrForbidden
	}
	u, err := a.users.ByID(ctx, id)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if u.ActiveAdmin() {
		// Refuse the plain case before the sessions end; the store decides in the end.
		if err := a.guardLastAdmin(ctx); err != nil {
			return err
		}
	}
	// Sessions first: if deleting the user then fails (or a concurrent change left them the
	// last admin), the user is merely logged out.
	if _, err := a.sessions.DeleteByUser(ctx, id, a.clock.Now()); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if err := a.users.Delete(ctx, id); err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	a.audit.record(ctx, domain.EventUserDelete, actor.UserID, id, "ok", "")
	return nil
}

// RevokeSessions ends every session of user id (an admin's or the operator's "log out
// everywhere" for someone else). It returns how many ended.
func (a *Admin) RevokeSessions(ctx context.Context, actor Principal, id string) (int, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return 0, domain.ErrForbidden
	}
	if _, err := a.users.ByID(ctx, id); err != nil {
		return 0, fmt.Errorf("load user: %w", err)
	}
	n, err := a.sessions.DeleteByUser(ctx, id, a.clock.Now())
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	a.audit.record(ctx, domain.EventLogoutAll, actor.UserID, id, "ok", fmt.Sprintf("sessions=%d", n))
	return n, nil
}

// HasAdmin reports whether any enabled admin exists (for first-start bootstrap).
func (a *Admin) HasAdmin(ctx context.Context) (bool, error) {
	n, err := a.directory.CountActiveAdmins(ctx)
	return n > 0, err
}

// guardLastAdmin refuses, with domain.ErrLastAdmin, to take away an enabled admin when there is
// only one. It is a check ahead of time, which concurrent changes can all pass: the store's
// UpdateUnlessLastAdmin and Delete are the rule.
func (a *Admin) guardLastAdmin(ctx context.Context) error {
	n, err := a.directory.CountActiveAdmins(ctx)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n <= 1 {
		return domain.ErrLastAdmin
	}
	return nil
}

func joinRoles(roles []domain.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
