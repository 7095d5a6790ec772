package httpapi

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// The administration API: users (admins and moderators read, admins change) and the audit
// trail (admins). The routes check roles first (requireRoles); the use cases check again.

// Bounds on filter values the use cases pass to the stores unchecked.
const (
	maxUserIDFilter = 128
	maxEventFilter  = 64
)

// adminUpdateUserRequest is the body of PATCH /api/users/{id}. Absent or null fields stay as
// they are.
type adminUpdateUserRequest struct {
	Roles         *[]string `json:"roles"`
	Disabled      *bool     `json:"disabled"`
	EmailVerified *bool     `json:"email_verified"`
	Name          *string   `json:"name"`
}

// adminUserDTO is the administrator's view of a user: the public view plus its state.
type adminUserDTO struct {
	userDTO
	Disabled bool `json:"disabled"`
}

type adminUserResponse struct {
	User adminUserDTO `json:"user"`
}

// usersResponse is one page of users; NextCursor is null on the last page.
type usersResponse struct {
	Users      []adminUserDTO `json:"users"`
	NextCursor *string        `json:"next_cursor"`
}

// auditEventDTO is one audit record. Actor and subject are "" when there is none (the operator,
// a failed login for no account), like every unset string in this API.
type auditEventDTO struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	Event     string `json:"event"`
	ActorID   string `json:"actor_id"`
	SubjectID string `json:"subject_id"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Outcome   string `json:"outcome"`
	Detail    string `json:"detail"`
}

// auditResponse is one page of the audit trail, newest first; NextCursor is null on the last.
type auditResponse struct {
	Events     []auditEventDTO `json:"events"`
	NextCursor *string         `json:"next_cursor"`
}

// listUsers: GET /api/users?limit=&cursor=&q=&role=&disabled= → 200 {users, next_cursor}, in
// creation order. limit is 1..200 (default 50); disabled is true or false.
func (s *Server) listUsers(c *fiber.Ctx) error {
	v := &domain.ValidationError{}
	limit := queryLimit(c, v)
	disabled := queryBool(c, "disabled", "invalid_disabled", v)
	if err := v.Err(); err != nil {
		return err
	}
	p, _ := principal(c)
	out, err := s.deps.Admin.List(c.UserContext(), p, application.ListUsersInput{
		Limit: limit, Cursor: c.Query("cursor"), Q: c.Query("q"), Role: c.Query("role"), Disabled: disabled,
	})
	if err != nil {
		return err
	}
	users := make([]adminUserDTO, len(out.Users))
	for i, u := range out.Users {
		users[i] = toAdminUserDTO(u)
	}
	return c.JSON(usersResponse{Users: users, NextCursor: nullable(out.NextCursor)})
}

// getUser: GET /api/users/{id} → 200 {user}, 404 when there is no such user.
func (s *Server) getUser(c *fiber.Ctx) error {
	p, _ := principal(c)
	out, err := s.deps.Admin.Get(c.UserContext(), p, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(adminUserResponse{User: toAdminUserDTO(out.User)})
}

// updateUser: PATCH /api/users/{id} {roles?, disabled?, email_verified?, name?} → 200 {user}.
// A role change reaches the user's sessions at once; disabling ends them. The last enabled
// admin cannot demote or disable themself (409 last_admin).
func (s *Server) updateUser(c *fiber.Ctx) error {
	var in adminUpdateUserRequest
	if err := decodeJSON(c.Request().Body(), &in); err != nil {
		return err
	}
	upd := application.AdminUpdateInput{Disabled: in.Disabled, EmailVerified: in.EmailVerified, Name: in.Name}
	if in.Roles != nil {
		roles := make([]domain.Role, len(*in.Roles))
		for i, r := range *in.Roles {
			roles[i] = domain.Role(r)
		}
		upd.Roles = &roles
	}
	p, _ := principal(c)
	out, err := s.deps.Admin.Update(c.UserContext(), p, c.Params("id"), upd)
	if err != nil {
		return err
	}
	return c.JSON(adminUserResponse{User: toAdminUserDTO(out.User)})
}

// deleteUser: DELETE /api/users/{id} → 204; ends the user's sessions first.
func (s *Server) deleteUser(c *fiber.Ctx) error {
	p, _ := principal(c)
	if err := s.deps.Admin.Delete(c.UserContext(), p, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// lockResponse is the login throttling of one account: locked (soft lock), delayed (the growing
// delay of failed logins), and how long until the next attempt is allowed.
type lockResponse struct {
	Locked            bool `json:"locked"`
	Delayed           bool `json:"delayed"`
	RetryAfterSeconds int  `json:"retry_after_seconds"`
}

func toLockResponse(st application.LockStatus) lockResponse {
	out := lockResponse{Locked: st.Locked, Delayed: st.Delayed}
	if st.Locked || st.Delayed {
		out.RetryAfterSeconds = domain.Throttled(st.RetryAfter).RetrySeconds()
	}
	return out
}

// getLock: GET /api/users/{id}/lock → 200 {locked, delayed, retry_after_seconds}.
func (s *Server) getLock(c *fiber.Ctx) error {
	p, _ := principal(c)
	st, err := s.deps.Locks.Status(c.UserContext(), p, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(toLockResponse(st))
}

// unlockUser: POST /api/users/{id}/unlock → 204; lifts the soft lock and forgets the account's
// failed logins (idempotent: an account that was not locked is fine).
func (s *Server) unlockUser(c *fiber.Ctx) error {
	p, _ := principal(c)
	if _, err := s.deps.Locks.Unlock(c.UserContext(), p, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// listAudit: GET /api/audit?limit=&cursor=&user_id=&event= → 200 {events, next_cursor}, newest
// first. user_id keeps the records where that user is the actor or the subject.
func (s *Server) listAudit(c *fiber.Ctx) error {
	v := &domain.ValidationError{}
	limit := queryLimit(c, v)
	userID, event := c.Query("user_id"), c.Query("event")
	if len(userID) > maxUserIDFilter {
		v.Add("user_id", "invalid_user_id", fmt.Sprintf("must be at most %d characters", maxUserIDFilter))
	}
	if len(event) > maxEventFilter {
		v.Add("event", "invalid_event", fmt.Sprintf("must be at most %d characters", maxEventFilter))
	}
	if err := v.Err(); err != nil {
		return err
	}
	p, _ := principal(c)
	out, err := s.deps.Audit.List(c.UserContext(), p, application.AuditListInput{
		Limit: limit, Cursor: c.Query("cursor"), UserID: userID, Event: event,
	})
	if err != nil {
		return err
	}
	events := make([]auditEventDTO, len(out.Records))
	for i, r := range out.Records {
		events[i] = auditEventDTO{
			ID: r.ID, Time: formatTime(r.Time), Event: string(r.Event), ActorID: r.ActorID, SubjectID: r.SubjectID,
			IP: r.IP, UserAgent: r.UserAgent, Outcome: r.Outcome, Detail: r.Detail,
		}
	}
	return c.JSON(auditResponse{Events: events, NextCursor: nullable(out.NextCursor)})
}

// queryLimit reads the limit query parameter: 0 (the use case's default) when absent, else an
// integer from 1 to application.MaxPageSize; anything else is added to v as invalid_limit.
func queryLimit(c *fiber.Ctx, v *domain.ValidationError) int {
	if !c.Context().QueryArgs().Has("limit") {
		return 0
	}
	n, err := strconv.Atoi(c.Query("limit"))
	if err != nil || n < 1 || n > application.MaxPageSize {
		v.Add("limit", "invalid_limit", fmt.Sprintf("must be between 1 and %d", application.MaxPageSize))
		return 0
	}
	return n
}

// queryBool reads a true/false query parameter: nil when absent; anything but "true" or "false"
// is added to v with code.
func queryBool(c *fiber.Ctx, name, code string, v *domain.ValidationError) *bool {
	if !c.Context().QueryArgs().Has(name) {
		return nil
	}
	switch c.Query(name) {
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	}
	v.Add(name, code, "must be true or false")
	return nil
}

// notMe answers 405 for /api/users/me on a method only /api/users/{id} has: "me" names the
// caller's own routes, never a user id.
func notMe(c *fiber.Ctx) error {
	if c.Params("id") == "me" {
		return fiber.ErrMethodNotAllowed
	}
	return c.Next()
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toAdminUserDTO(u application.UserView) adminUserDTO {
	return adminUserDTO{userDTO: toUserDTO(u), Disabled: u.Disabled}
}
