package application_test

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// assertingRP is a relying party whose every assertion checks: the response is the credential
// id it claims, the authenticator verified its user and keeps no signature counter.
type assertingRP struct{ stubRP }

func (assertingRP) AssertionCredential(response []byte) ([]byte, string, error) {
	return response, "", nil
}

func (assertingRP) FinishLogin(_ ports.PasskeyUser, p domain.Passkey, _, _ []byte) (ports.PasskeyAssertion, error) {
	return ports.PasskeyAssertion{UserVerified: true, Credential: p.Credential}, nil
}

// passkeyLogin registers email with a passkey and returns its id and a login by that passkey
// alone, which opens its sessions through w.hooks.
func (w *mfaWorld) passkeyLogin(t *testing.T, email string) (string, func() (application.TokensOutput, error)) {
	t.Helper()
	ctx := context.Background()
	w.registerAndLogin(t, email)
	id := mustUser(t, w.world, email).ID
	cred := []byte("cred-" + id)
	if err := w.passkeys.Add(ctx, domain.Passkey{ID: "pk-" + id, UserID: id, CredentialID: cred,
		Name: "key", Credential: []byte("{}"), CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	ids := system.NewIDs()
	p := application.NewPasskeys(w.factors, w.passkeys, assertingRP{}, w.challenges, w.users, w.hooks, w.hasher, w.issuer, ids,
		w.clock, w.settings, application.NewAuditor(w.auditLog, w.clock, ids, discard()), discard())
	return id, func() (application.TokensOutput, error) {
		c, err := p.BeginLogin(ctx)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		return p.FinishLogin(ctx, c.Token, cred)
	}
}

// lastLoginFailure returns the outcome and detail of userID's newest login_failure audit record
// ("" for none).
func (w *mfaWorld) lastLoginFailure(t *testing.T, userID string) (string, string) {
	t.Helper()
	recs, err := w.auditLog.List(context.Background(), domain.AuditQuery{UserID: userID, Event: domain.EventLoginFailure, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		return "", ""
	}
	return recs[0].Outcome, recs[0].Detail
}

// A login by passkey alone re-reads the user once its session is stored, by the rule of the
// password and second-factor logins (TestMFAVerifyRoleChangeDuringTheLogin): a role change
// reaches the session; three in a row fail with domain.ErrStale; a user disabled, deleted or
// given another password meanwhile gets no session and domain.ErrInvalidCredentials.
func TestPasskeyLoginUserChangedDuringTheLogin(t *testing.T) {
	t.Run("roles changed once", func(t *testing.T) {
		w := newMFAWorld(t)
		id, login := w.passkeyLogin(t, "r@x.com")
		before := w.liveSessions(t, id)
		w.hooks.beforeCreate = func() {
			w.hooks.beforeCreate = nil
			w.setRoles(t, id, domain.RoleUser, domain.RoleModerator)
		}
		out, err := login()
		if err != nil {
			t.Fatalf("passkey login: %v", err)
		}
		if p := mustAuth(t, w.world, out.AccessToken); !p.HasRole(domain.RoleModerator) {
			t.Fatalf("the new session has roles %v, want the moderator role granted during the login", p.Roles)
		}
		if out.User == nil || len(out.User.Roles) != 2 {
			t.Fatalf("the login's user view %+v, want the current roles", out.User)
		}
		if n := w.liveSessions(t, id); n != before+1 { // the stale session was deleted
			t.Fatalf("%d live sessions, want %d", n, before+1)
		}
	})
	t.Run("roles changed three times", func(t *testing.T) {
		w := newMFAWorld(t)
		id, login := w.passkeyLogin(t, "s@x.com")
		before := w.liveSessions(t, id)
		flip := false
		w.hooks.beforeCreate = func() {
			if flip = !flip; flip {
				w.setRoles(t, id, domain.RoleUser, domain.RoleModerator)
			} else {
				w.setRoles(t, id, domain.RoleUser)
			}
		}
		_, err := login()
		if !errors.Is(err, domain.ErrStale) {
			t.Fatalf("passkey login with the roles changing at every session = %v, want ErrStale", err)
		}
		if w.hooks.creates != 3 {
			t.Fatalf("%d sessions opened, want 3", w.hooks.creates)
		}
		if n := w.liveSessions(t, id); n != before {
			t.Fatalf("%d live sessions, want the %d from before the login", n, before)
		}
	})
	refused := map[string]struct {
		change  func(t *testing.T, w *mfaWorld, id string)
		outcome string
	}{
		"disabled": {func(t *testing.T, w *mfaWorld, id string) { disable(t, w.world, id) }, "disabled_during_login"},
		"deleted": {func(t *testing.T, w *mfaWorld, id string) {
			if err := w.admin.Delete(context.Background(), application.Operator, id); err != nil {
				t.Error(err)
			}
		}, "deleted_during_login"},
		"password changed": {func(t *testing.T, w *mfaWorld, id string) { w.changePassword(t, id) }, "password_changed_during_login"},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			w := newMFAWorld(t)
			id, login := w.passkeyLogin(t, "d@x.com")
			w.hooks.beforeCreate = func() {
				w.hooks.beforeCreate = nil
				c.change(t, w, id)
			}
			out, err := login()
			if !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Fatalf("passkey login = session %q, %v; want ErrInvalidCredentials", out.SessionID, err)
			}
			if n := w.liveSessions(t, id); n != 0 {
				t.Fatalf("%d live sessions after the refused login, want none", n)
			}
			if got, detail := w.lastLoginFailure(t, id); got != c.outcome || detail != "method=passkey" {
				t.Fatalf("audited login failure %q (%q), want %q (method=passkey)", got, detail, c.outcome)
			}
		})
	}
}
