package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// TOTPEnrolment is a new, pending TOTP authenticator: the secret in base32, its otpauth:// URI
// and that URI as a QR code PNG. It is shown once; the secret is kept only sealed.
type TOTPEnrolment struct {
	Secret string
	URI    string
	QRPNG  []byte
}

// MFAStatus is what a user has set up.
type MFAStatus struct {
	TOTP          string // "none", "pending" or "enabled"
	RecoveryCodes int    // unused codes left
	Methods       []string
}

// TOTPSetup lets a user enrol, confirm and remove a TOTP authenticator and regenerate recovery
// codes; and an administrator reset a user's factors.
type TOTPSetup struct {
	factors  *SecondFactors
	users    ports.UserStore
	sessions ports.SessionStore
	hasher   ports.PasswordHasher
	clock    ports.Clock
	audit    *Auditor
	log      *slog.Logger
}

// NewTOTPSetup wires the TOTP set-up use case.
func NewTOTPSetup(factors *SecondFactors, users ports.UserStore, sessions ports.SessionStore, hasher ports.PasswordHasher,
	clock ports.Clock, audit *Auditor, log *slog.Logger) *TOTPSetup {
	return &TOTPSetup{factors: factors, users: users, sessions: sessions, hasher: hasher, clock: clock, audit: audit, log: log}
}

// Status reports userID's second factors.
func (s *TOTPSetup) Status(ctx context.Context, userID string) (MFAStatus, error) {
	out := MFAStatus{TOTP: "none"}
	t, err := s.factors.totp.Get(ctx, userID)
	switch {
	case err == nil && t.Confirmed:
		out.TOTP = "enabled"
	case err == nil:
		out.TOTP = "pending"
	case !errors.Is(err, domain.ErrNotFound):
		return MFAStatus{}, fmt.Errorf("load TOTP factor: %w", err)
	}
	if out.RecoveryCodes, err = s.factors.codes.Count(ctx, userID); err != nil {
		return MFAStatus{}, fmt.Errorf("count recovery codes: %w", err)
	}
	if out.Methods, err = s.factors.Methods(ctx, userID); err != nil {
		return MFAStatus{}, err
	}
	return out, nil
}

// Enrol makes a new secret for the caller, given the account's password (see addingAWayIn), and
// keeps it, sealed, as a pending authenticator (replacing a pending one) until Confirm. A user
// with a confirmed authenticator gets ErrTOTPEnabled: remove it first. A user with a passkey
// enrols only from a session opened with a second factor (ErrMFARequired, see guardChange).
func (s *TOTPSetup) Enrol(ctx context.Context, caller Principal, password string) (TOTPEnrolment, error) {
	userID := caller.UserID
	u, err := loadSelf(ctx, s.users, userID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if t, err := s.factors.totp.Get(ctx, userID); err == nil && t.Confirmed {
		return TOTPEnrolment{}, ErrTOTPEnabled
	} else if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return TOTPEnrolment{}, fmt.Errorf("load TOTP factor: %w", err)
	}
	if err := s.factors.guardChange(ctx, caller); err != nil {
		return TOTPEnrolment{}, err
	}
	if err := addingAWayIn(ctx, s.factors, s.hasher, s.log, u, password); err != nil {
		return TOTPEnrolment{}, err
	}
	account := u.Email
	secret, uri, png, err := s.factors.otp.NewKey(s.factors.settings.totpIssuer(), account)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	sealed, err := s.factors.box.Seal(totpLabel(userID), []byte(secret))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("seal TOTP secret: %w", err)
	}
	err = s.factors.totp.Put(ctx, domain.TOTPFactor{UserID: userID, Secret: sealed, CreatedAt: s.clock.Now()})
	if errors.Is(err, domain.ErrConflict) {
		return TOTPEnrolment{}, ErrTOTPEnabled
	}
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("store TOTP factor: %w", err)
	}
	s.audit.record(ctx, domain.EventMFAEnrol, userID, userID, "pending", "method=totp")
	return TOTPEnrolment{Secret: secret, URI: uri, QRPNG: png}, nil
}

// Confirm checks the first code of the caller's pending authenticator (within the usual skew),
// enables it and returns ten new recovery codes, shown this once. A wrong code is
// ErrInvalidCode and counts against the account's throttle; no pending authenticator is
// ErrNoTOTP. A user who has a passkey by now confirms only from a session opened with a second
// factor (ErrMFARequired, see guardChange).
func (s *TOTPSetup) Confirm(ctx context.Context, caller Principal, code string) ([]string, error) {
	userID := caller.UserID
	if _, err := loadSelf(ctx, s.users, userID); err != nil {
		return nil, err
	}
	t, err := s.factors.totp.Get(ctx, userID)
	switch {
	case errors.Is(err, domain.ErrNotFound) || (err == nil && t.Confirmed):
		return nil, ErrNoTOTP
	case err != nil:
		return nil, fmt.Errorf("load TOTP factor: %w", err)
	}
	if err := s.factors.guardChange(ctx, caller); err != nil {
		return nil, err
	}
	if err := s.factors.throttle(ctx, userID); err != nil {
		return nil, err
	}
	secret, err := s.factors.openSecret(t)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	step, ok := s.factors.matchStep(secret, code, now, 0)
	if !ok {
		s.audit.record(ctx, domain.EventMFAFailure, userID, userID, "bad_code", "method=totp confirm")
		s.factors.attemptFailed(ctx, userID)
		return nil, ErrInvalidCode
	}
	// The factor whose code was checked, and no other: an enrolment meanwhile replaced it.
	if err := s.factors.totp.Confirm(ctx, userID, t.Secret, step, now); err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return nil, ErrNoTOTP
		}
		return nil, fmt.Errorf("confirm TOTP factor: %w", err)
	}
	s.factors.clearThrottle(ctx, userID)
	codes, err := s.factors.newRecoveryCodes(ctx, userID)
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "second factor enabled", "user_id", userID, "method", MethodTOTP)
	s.audit.record(ctx, domain.EventMFAEnrol, userID, userID, "ok", "method=totp")
	return codes, nil
}

// Disable removes userID's TOTP authenticator, given the password and a current code (a
// recovery code is not enough: it would let a stolen password and one code remove the factor
// for good). Its recovery codes go with it unless another factor remains. Like a password
// change, it ends every other session of the user (sessionID, the caller's own, stays): a
// session opened by whoever knew the removed factor must not outlive it. The code is throttled
// as at a login's second factor (SecondFactors.throttle), and a right one clears the account's
// failures as a login does.
func (s *TOTPSetup) Disable(ctx context.Context, userID, sessionID, password, code string) error {
	if err := s.checkPassword(ctx, userID, password); err != nil {
		return err
	}
	// The code's attempt is taken before it is checked, as at a login's second factor: removals
	// sent together, each with another guess, would otherwise all pass the password's check of
	// the throttle before the first wrong code is counted.
	if err := s.factors.throttle(ctx, userID); err != nil {
		return err
	}
	if err := s.factors.checkTOTP(ctx, userID, code); err != nil {
		if errors.Is(err, ErrInvalidCode) {
			s.audit.record(ctx, domain.EventMFAFailure, userID, userID, "bad_code", "method=totp disable")
			s.factors.attemptFailed(ctx, userID)
		}
		return err
	}
	s.factors.clearThrottle(ctx, userID)
	if err := s.factors.totp.Delete(ctx, userID); err != nil {
		return fmt.Errorf("delete TOTP factor: %w", err)
	}
	if err := s.factors.dropOrphanedCodes(ctx, userID); err != nil {
		return err
	}
	revoked, err := revokeOthers(ctx, s.sessions, userID, sessionID, s.clock.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "second factor removed", "user_id", userID, "method", MethodTOTP, "sessions_revoked", revoked)
	s.audit.record(ctx, domain.EventMFARemove, userID, userID, "ok", fmt.Sprintf("method=totp sessions_revoked=%d", revoked))
	return nil
}

// RegenerateRecoveryCodes replaces the caller's recovery codes, given the password, from a
// session opened with a second factor (ErrMFARequired otherwise, see guardChange: new codes are a
// new way in); it needs a second factor to recover (ErrNoTOTP otherwise). Like a password change,
// it ends every other session of the user (the caller's own stays): whoever regenerates suspects
// the old codes leaked, and a session opened with one must not outlive them.
func (s *TOTPSetup) RegenerateRecoveryCodes(ctx context.Context, caller Principal, password string) ([]string, error) {
	userID, sessionID := caller.UserID, caller.SessionID
	if err := s.factors.guardChange(ctx, caller); err != nil {
		return nil, err
	}
	u, err := loadSelf(ctx, s.users, userID)
	if err != nil {
		return nil, err
	}
	if err := addingAWayIn(ctx, s.factors, s.hasher, s.log, u, password); err != nil {
		return nil, err
	}
	has, err := s.factors.hasFactor(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !has {
		return nil, ErrNoTOTP
	}
	codes, err := s.factors.newRecoveryCodes(ctx, userID)
	if err != nil {
		return nil, err
	}
	revoked, err := revokeOthers(ctx, s.sessions, userID, sessionID, s.clock.Now())
	if err != nil {
		return nil, err
	}
	s.audit.record(ctx, domain.EventRecoveryCodes, userID, userID, "ok", fmt.Sprintf("sessions_revoked=%d", revoked))
	return codes, nil
}

// Reset removes every second factor of userID (TOTP, recovery codes, passkeys) for an
// administrator, for a user who lost them, and ends every session of the user (but the
// administrator's own, when they reset themselves): the factors went because a device was lost
// or stolen, and a session opened with it, by whoever holds it now, must not outlive them, as
// when the user removes a factor (Disable, Passkeys.Delete). It is audited with the
// administrator as actor.
func (s *TOTPSetup) Reset(ctx context.Context, actor Principal, userID string) error {
	if !actor.HasRole(domain.RoleAdmin) {
		return domain.ErrForbidden
	}
	if _, err := s.users.ByID(ctx, userID); err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	if err := s.factors.removeAll(ctx, userID); err != nil {
		return err
	}
	revoked, err := revokeOthers(ctx, s.sessions, userID, actor.SessionID, s.clock.Now())
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "second factors reset", "user_id", userID, "actor_id", actor.UserID, "sessions_revoked", revoked)
	s.audit.record(ctx, domain.EventMFAReset, actor.UserID, userID, "ok", fmt.Sprintf("sessions_revoked=%d", revoked))
	return nil
}

// checkPassword verifies userID's password for a sensitive change (reauthenticate).
func (s *TOTPSetup) checkPassword(ctx context.Context, userID, password string) error {
	u, err := loadSelf(ctx, s.users, userID)
	if err != nil {
		return err
	}
	return reauthenticate(ctx, s.factors.limits, s.hasher, s.log, u, password)
}
