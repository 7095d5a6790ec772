package application

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// loginOpener opens the session of a login whose factors are checked, and re-reads the user
// once the session is stored. A login reads the user before its (slow) checks and stores the
// session after them, so an administrator's disable, a password change or a role change in
// between would sweep the user's sessions before this one exists. Login, MFAVerify and the
// login by passkey alone (Passkeys.FinishLogin) share it, so all apply one rule:
//   - a user now deleted, disabled or with another password hash than the one the login
//     checked: the new session is deleted and the login fails with
//     domain.ErrInvalidCredentials (audited as login failure);
//   - a user whose roles changed: the session is deleted and opened again with the new roles;
//     after three such changes the login fails with domain.ErrStale.
type loginOpener struct {
	users    ports.UserStore
	sessions ports.SessionStore
	tokens   *tokenMinter
	ids      ports.IDSource
	clock    ports.Clock
	settings Settings
	audit    *Auditor
	log      *slog.Logger
	// auditDetail is the detail of the audit record of a refused login: "method=passkey" for
	// a login by passkey alone, "" for the logins that start with a password.
	auditDetail string
}

func newLoginOpener(users ports.UserStore, sessions ports.SessionStore, issuer ports.TokenIssuer, ids ports.IDSource,
	clock ports.Clock, settings Settings, audit *Auditor, log *slog.Logger) *loginOpener {
	return &loginOpener{users: users, sessions: sessions, ids: ids, clock: clock, settings: settings, audit: audit, log: log,
		tokens: &tokenMinter{issuer: issuer, ids: ids, ttl: settings.AccessTTL}}
}

// roleChangeAttempts is how many sessions a login opens while the user's roles keep changing.
const roleChangeAttempts = 3

// open opens u's session, authenticated by amr, and returns its tokens with the user as it is
// now. u is the user as the login checked it: PasswordHash the hash its password was checked
// against (after the login's own rehash), Roles the roles the session is opened with.
func (o *loginOpener) open(ctx context.Context, u domain.User, amr []string) (TokensOutput, error) {
	var (
		out TokensOutput
		cur domain.User
		err error
	)
	for attempt := 1; ; attempt++ {
		if out, err = openSession(ctx, o.sessions, o.tokens, o.ids, o.settings, o.clock.Now(), u, amr); err != nil {
			return TokensOutput{}, err
		}
		cur, err = o.recheck(ctx, u, out.SessionID)
		if !errors.Is(err, errRolesChanged) || attempt == roleChangeAttempts {
			break
		}
		u.Roles = cur.Roles
	}
	if err != nil {
		return TokensOutput{}, err
	}
	view := viewOf(cur)
	out.User = &view
	return out, nil
}

// recheck re-reads u after its new session sid was stored (see loginOpener). It returns the
// current user, or deletes the session and fails.
func (o *loginOpener) recheck(ctx context.Context, u domain.User, sid string) (domain.User, error) {
	cur, outcome, err := o.reread(ctx, u.ID, passwordMark(u.PasswordHash))
	if err == nil && outcome == "" {
		if slices.Equal(cur.Roles, u.Roles) {
			return cur, nil
		}
		outcome = "roles_changed_during_login"
	}
	// The session was never handed out: it goes, whatever happened to the request.
	if derr := o.sessions.Delete(context.WithoutCancel(ctx), sid); derr != nil && err == nil {
		err = fmt.Errorf("delete the session of a refused login: %w", derr)
	}
	switch {
	case err != nil:
		return domain.User{}, err
	case outcome == "roles_changed_during_login":
		return cur, errRolesChanged
	}
	return domain.User{}, o.refuse(ctx, u.ID, outcome)
}

// reread reads userID for a login that checked its password against a hash whose
// passwordMark is mark. outcome says why the login may not go on ("" when it may): the user
// is gone, disabled or has another password.
func (o *loginOpener) reread(ctx context.Context, userID string, mark []byte) (u domain.User, outcome string, err error) {
	u, err = o.users.ByID(ctx, userID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return domain.User{}, "deleted_during_login", nil
	case err != nil:
		return domain.User{}, "", fmt.Errorf("re-read user: %w", err)
	case u.Disabled:
		return u, "disabled_during_login", nil
	case !bytes.Equal(passwordMark(u.PasswordHash), mark):
		return u, "password_changed_during_login", nil
	}
	return u, "", nil
}

// refuse logs and audits a login of userID refused for outcome, and returns the one error
// every such refusal gets.
func (o *loginOpener) refuse(ctx context.Context, userID, outcome string) error {
	o.log.InfoContext(ctx, "login failed", "user_id", userID, "outcome", outcome)
	o.audit.record(ctx, domain.EventLoginFailure, "", userID, outcome, o.auditDetail)
	return domain.ErrInvalidCredentials
}

// errRolesChanged: the user's roles changed while a login opened its session; the session was
// deleted and the login opens another with the current roles (and, after three tries, fails).
var errRolesChanged = fmt.Errorf("roles changed during login: %w", domain.ErrStale)

// passwordMark identifies a stored password hash without being one: a login waiting for its
// second factor keeps it (in its mfa_token's challenge) to tell whether the password changed
// since it was checked.
func passwordMark(hash string) []byte {
	m := sha256.Sum256([]byte("portcullis password mark v1\x00" + hash))
	return m[:]
}
