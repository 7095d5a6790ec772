package application

import (
	"slices"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// UserView is a user as a use case hands it out: every field of domain.User but the password
// hash, which never leaves the core. Handlers and operator commands see users only as views.
type UserView struct {
	ID            string
	Email         string
	EmailVerified bool
	Username      string
	Name          string
	Roles         []domain.Role
	Disabled      bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
	Version       int64
}

// HasRole reports whether the user holds r.
func (u UserView) HasRole(r domain.Role) bool { return domain.HasRole(u.Roles, r) }

// viewOf is u without its password hash.
func viewOf(u domain.User) UserView {
	return UserView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Username: u.Username, Name: u.Name,
		Roles: slices.Clone(u.Roles), Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
		Version: u.Version}
}

// viewsOf is viewOf of each user.
func viewsOf(users []domain.User) []UserView {
	out := make([]UserView, len(users))
	for i, u := range users {
		out[i] = viewOf(u)
	}
	return out
}

// UserOutput carries a user out of a use case, as a view.
type UserOutput struct {
	User UserView
}

// userOutput is the output carrying u.
func userOutput(u domain.User) UserOutput { return UserOutput{User: viewOf(u)} }
