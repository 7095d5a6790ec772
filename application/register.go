package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// RegisterInput is a sign-up request. Roles and verification state are not inputs: registration
// always grants RoleUser only, unverified.
type RegisterInput struct {
	Email    string
	Password string
	Name     string
	Username string
}

// UserOutput carries a user out of a use case.
type UserOutput struct {
	User domain.User
}

// Register creates accounts.
type Register struct {
	users  ports.UserStore
	hasher ports.PasswordHasher
	clock  ports.Clock
	ids    ports.IDSource
	audit  *Auditor
	mail   *MailQueue
	log    *slog.Logger
}

// NewRegister wires the register use case. mail may be nil (no verification mail).
func NewRegister(users ports.UserStore, hasher ports.PasswordHasher, clock ports.Clock, ids ports.IDSource, audit *Auditor,
	mail *MailQueue, log *slog.Logger) *Register {
	return &Register{users: users, hasher: hasher, clock: clock, ids: ids, audit: audit, mail: mail, log: log}
}

// Concealed reports whether registration hides which addresses have accounts
// (PORTCULLIS_REQUIRE_VERIFIED_EMAIL): then Handle answers a taken address as a new one.
func (r *Register) Concealed() bool { return r.mail.requireVerified() }

// Handle validates in, hashes the password, stores the user and queues a verification mail.
// A taken email or username is domain.ErrConflict; invalid fields are a
// *domain.ValidationError listing each. When Concealed, a taken email instead queues a mail
// to its owner saying someone tried to register with it, and Handle returns a zero output and
// no error, after the same hashing work as a new account.
func (r *Register) Handle(ctx context.Context, in RegisterInput) (UserOutput, error) {
	out, err := r.create(ctx, in, []domain.Role{domain.RoleUser})
	var ce *domain.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" && r.Concealed() {
		addr, _ := domain.NormalizeEmail(in.Email)
		r.log.InfoContext(ctx, "registration with a taken address", "outcome", "email_taken")
		r.audit.record(ctx, domain.EventRegister, "", "", "email_taken", "")
		return UserOutput{}, r.mail.queue(ctx, domain.OutboxMail{Kind: domain.MailRegisterAttempt, To: addr})
	}
	if err != nil {
		return out, err
	}
	r.audit.record(ctx, domain.EventRegister, out.User.ID, out.User.ID, "ok", "")
	u := out.User
	r.mail.notify(ctx, domain.OutboxMail{Kind: domain.MailVerifyEmail, To: u.Email, UserID: u.ID, Name: u.Name})
	return out, nil
}

// create validates in and stores a user with roles.
func (r *Register) create(ctx context.Context, in RegisterInput, roles []domain.Role) (UserOutput, error) {
	v := &domain.ValidationError{}
	email, invalid := domain.NormalizeEmail(in.Email)
	v.Put(invalid)
	v.Put(domain.ValidatePassword(in.Password))
	username := ""
	if in.Username != "" {
		username, invalid = domain.NormalizeUsername(in.Username)
		v.Put(invalid)
	}
	v.Put(domain.ValidateName(in.Name))
	if err := v.Err(); err != nil {
		return UserOutput{}, err
	}
	hash, err := r.hasher.Hash(ctx, in.Password)
	if err != nil {
		return UserOutput{}, fmt.Errorf("hash password: %w", err)
	}
	now := r.clock.Now()
	u := domain.User{
		ID:           r.ids.NewID(),
		Email:        email,
		Username:     username,
		Name:         in.Name,
		Roles:        roles,
		Version:      1, // what the store keeps for a new user
		PasswordHash: hash,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := r.users.Create(ctx, u); err != nil {
		return UserOutput{}, fmt.Errorf("create user: %w", err)
	}
	r.log.InfoContext(ctx, "user registered", "user_id", u.ID)
	return UserOutput{User: u}, nil
}
