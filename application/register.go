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

// Register creates accounts.
type Register struct {
	accounts *accounts
	audit    *Auditor
	mail     *MailQueue
	log      *slog.Logger
}

// NewRegister wires the register use case. mail may be nil (no verification mail).
func NewRegister(users ports.UserStore, idn ports.IdentityNormalizer, hasher ports.PasswordHasher, clock ports.Clock, ids ports.IDSource, audit *Auditor,
	mail *MailQueue, log *slog.Logger) *Register {
	return &Register{accounts: &accounts{users: users, idn: idn, hasher: hasher, clock: clock, ids: ids, log: log},
		audit: audit, mail: mail, log: log}
}

// Concealed reports whether registration hides which addresses have accounts
// (PORTCULLIS_REQUIRE_VERIFIED_EMAIL): then Handle answers a taken address as a new one.
func (r *Register) Concealed() bool { return r.mail.requireVerified() }

// Handle validates in, hashes the password, stores the user and queues a verification mail.
// A taken email or username is domain.ErrConflict; invalid fields are a
// *domain.ValidationError listing each. When Concealed, a taken email instead queues a mail
// to its owner saying someone tried to register with it, and Handle returns a zero output and
// no error, after the same hashing work as a new account; a taken username is a conflict on
// "username" whatever the email, as for a new address.
func (r *Register) Handle(ctx context.Context, in RegisterInput) (UserOutput, error) {
	out, err := r.accounts.create(ctx, in, []domain.Role{domain.RoleUser})
	var ce *domain.ConflictError
	if errors.As(err, &ce) && ce.Field == "email" && r.Concealed() {
		// A taken username is refused whatever the address, as it is for a new address: the
		// store names one conflict only, and answering the address's would tell it is taken.
		taken, err := r.usernameTaken(ctx, in.Username)
		if err != nil {
			return UserOutput{}, err
		}
		if taken {
			return UserOutput{}, &domain.ConflictError{Field: "username"}
		}
		addr, _ := r.accounts.idn.Email(in.Email)
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

// usernameTaken reports whether username (as given; "" is never taken) belongs to an account.
func (r *Register) usernameTaken(ctx context.Context, username string) (bool, error) {
	if username == "" {
		return false, nil
	}
	name, invalid := r.accounts.idn.Username(username)
	if invalid != nil {
		return false, invalid // create validated it already
	}
	_, err := r.accounts.users.ByUsername(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("load user by username: %w", err)
}
