package application

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// UpdateProfileInput changes the caller's own profile. A nil field is left as it is; an empty
// Username removes it.
type UpdateProfileInput struct {
	Name     *string
	Username *string
}

// Profile reads and edits the caller's own account.
type Profile struct {
	users ports.UserStore
	idn   ports.IdentityNormalizer
	clock ports.Clock
}

// NewProfile wires the profile use case.
func NewProfile(users ports.UserStore, idn ports.IdentityNormalizer, clock ports.Clock) *Profile {
	return &Profile{users: users, idn: idn, clock: clock}
}

// Get returns the user. A user deleted since the token was issued is domain.ErrUnauthenticated.
func (p *Profile) Get(ctx context.Context, userID string) (UserOutput, error) {
	u, err := loadSelf(ctx, p.users, userID)
	return userOutput(u), err
}

// Update applies in. A taken username is domain.ErrConflict. If the account changes
// concurrently, the change is re-applied to the new state (up to staleAttempts times, then
// domain.ErrStale).
func (p *Profile) Update(ctx context.Context, userID string, in UpdateProfileInput) (UserOutput, error) {
	v := &domain.ValidationError{}
	var name, username string
	if in.Name != nil {
		var invalid *domain.FieldError
		name, invalid = p.idn.Name(*in.Name)
		v.Put(invalid)
	}
	if in.Username != nil && *in.Username != "" {
		var invalid *domain.FieldError
		username, invalid = p.idn.Username(*in.Username)
		v.Put(invalid)
	}
	if err := v.Err(); err != nil {
		return UserOutput{}, err
	}
	var u domain.User
	err := retryStale(func() error {
		var err error
		if u, err = loadSelf(ctx, p.users, userID); err != nil {
			return err
		}
		if in.Name != nil {
			u.Name = name
		}
		if in.Username != nil {
			u.Username = username
		}
		u.UpdatedAt = p.clock.Now()
		stored, err := p.users.Update(ctx, u)
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		u = stored
		return nil
	})
	if err != nil {
		return UserOutput{}, err
	}
	return userOutput(u), nil
}
