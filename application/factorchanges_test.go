package application_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/otp"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// registeringRP is a relying party whose every registration and assertion checks: the answer to
// a registration is the new credential's id.
type registeringRP struct{ assertingRP }

func (registeringRP) BeginRegistration(ports.PasskeyUser, []domain.Passkey) ([]byte, []byte, error) {
	return []byte(`{"publicKey":{}}`), []byte(`{"state":"x"}`), nil
}

func (registeringRP) FinishRegistration(_ ports.PasskeyUser, _, response []byte) (domain.Passkey, error) {
	return domain.Passkey{CredentialID: response, Credential: []byte("{}")}, nil
}

// withRegistration makes passkeys second factors of w, registered through a relying party that
// accepts every answer.
func (w *mfaWorld) withRegistration() *application.Passkeys {
	ids := system.NewIDs()
	p := application.NewPasskeys(w.factors, w.passkeys, registeringRP{}, w.challenges, w.users, w.sessions, w.hasher, w.issuer, ids,
		w.clock, w.settings, application.NewAuditor(w.auditLog, w.clock, ids, discard()), discard())
	w.factors.UsePasskeys(p)
	return p
}

// sessionsOf returns a session of userID opened with the password alone and one opened with a
// second factor, as Authenticate hands them to the use cases.
func sessionsOf(userID string) (pwd, twoFactor application.Principal) {
	return application.Principal{UserID: userID, SessionID: "pwd-" + userID, AMR: []string{domain.AMRPassword}},
		application.Principal{UserID: userID, SessionID: "otp-" + userID, AMR: []string{domain.AMRPassword, domain.AMROTP}}
}

// addPasskey gives userID a passkey and returns its id.
func (w *mfaWorld) addPasskey(t *testing.T, userID string) string {
	t.Helper()
	id := "pk-" + userID
	if err := w.passkeys.Add(context.Background(), domain.Passkey{ID: id, UserID: userID, CredentialID: []byte("cred-" + userID),
		Name: "key", Credential: []byte("{}"), CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	return id
}

// factorState is what a refused change must leave as it was.
type factorState struct {
	status   application.MFAStatus
	passkeys int
}

func (w *mfaWorld) factorState(t *testing.T, p *application.Passkeys, userID string) factorState {
	t.Helper()
	ctx := context.Background()
	st, err := w.totp.Status(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := p.List(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	return factorState{status: st, passkeys: len(list)}
}

func (s factorState) equal(o factorState) bool {
	return s.status.TOTP == o.status.TOTP && s.status.RecoveryCodes == o.status.RecoveryCodes &&
		slices.Equal(s.status.Methods, o.status.Methods) && s.passkeys == o.passkeys
}

// Once an account has a second factor (a confirmed TOTP authenticator or a passkey), a session
// opened with the password alone can neither add a way in (register a passkey, enrol TOTP,
// replace the recovery codes) nor remove a factor: ErrMFARequired, and nothing changes. A
// session opened with a second factor can. Otherwise a stolen password-only session (or one
// older than the factor) raises itself to two factors, past PORTCULLIS_ADMIN_REQUIRE_MFA.
func TestFactorChangesNeedASecondFactorSession(t *testing.T) {
	type account struct {
		id, secret string
	}
	withTOTP := func(t *testing.T, w *mfaWorld) account {
		id, secret, _ := w.enrolled(t, "totp@x.com")
		return account{id, secret}
	}
	withPasskey := func(t *testing.T, w *mfaWorld) account {
		w.registerAndLogin(t, "pk@x.com")
		id := mustUser(t, w.world, "pk@x.com").ID
		w.addPasskey(t, id)
		return account{id: id}
	}
	cases := map[string]struct {
		setup  func(t *testing.T, w *mfaWorld, p *application.Passkeys) account
		change func(w *mfaWorld, p *application.Passkeys, a account, caller application.Principal) error
	}{
		"register a passkey": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account { return withTOTP(t, w) },
			change: func(_ *mfaWorld, p *application.Passkeys, _ account, caller application.Principal) error {
				c, err := p.BeginRegistration(context.Background(), caller, goodPassword)
				if err != nil {
					return err
				}
				_, err = p.FinishRegistration(context.Background(), caller, c.Token, "attacker", []byte("cred-new"))
				return err
			},
		},
		"finish a registration begun with two factors": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account { return withTOTP(t, w) },
			change: func(_ *mfaWorld, p *application.Passkeys, a account, caller application.Principal) error {
				_, twoFactor := sessionsOf(a.id)
				c, err := p.BeginRegistration(context.Background(), twoFactor, goodPassword)
				if err != nil {
					return err
				}
				_, err = p.FinishRegistration(context.Background(), caller, c.Token, "attacker", []byte("cred-new"))
				return err
			},
		},
		"regenerate the recovery codes": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account {
				// One code spent, so that new codes show in the count.
				id, secret, codes := w.enrolled(t, "totp@x.com")
				token := w.pending(t, "totp@x.com")
				if _, err := w.verify.Handle(context.Background(), application.MFAVerifyInput{MFAToken: token, RecoveryCode: codes[0]}); err != nil {
					t.Fatal(err)
				}
				return account{id, secret}
			},
			change: func(w *mfaWorld, _ *application.Passkeys, _ account, caller application.Principal) error {
				_, err := w.totp.RegenerateRecoveryCodes(context.Background(), caller, goodPassword)
				return err
			},
		},
		"enrol TOTP beside a passkey": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account { return withPasskey(t, w) },
			change: func(w *mfaWorld, _ *application.Passkeys, _ account, caller application.Principal) error {
				e, err := w.totp.Enrol(context.Background(), caller, goodPassword)
				if err != nil {
					return err
				}
				code, err := otp.Code(e.Secret, w.clock.Now())
				if err != nil {
					return err
				}
				_, err = w.totp.Confirm(context.Background(), caller, code)
				return err
			},
		},
		"confirm TOTP enrolled before the passkey came": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account {
				w.registerAndLogin(t, "late@x.com")
				id := mustUser(t, w.world, "late@x.com").ID
				pwd, _ := sessionsOf(id)
				e, err := w.totp.Enrol(context.Background(), pwd, goodPassword) // no factor yet: allowed
				if err != nil {
					t.Fatal(err)
				}
				w.addPasskey(t, id)
				return account{id: id, secret: e.Secret}
			},
			change: func(w *mfaWorld, _ *application.Passkeys, a account, caller application.Principal) error {
				code, err := otp.Code(a.secret, w.clock.Now())
				if err != nil {
					return err
				}
				_, err = w.totp.Confirm(context.Background(), caller, code)
				return err
			},
		},
		"delete a passkey": {
			setup: func(t *testing.T, w *mfaWorld, _ *application.Passkeys) account { return withPasskey(t, w) },
			change: func(_ *mfaWorld, p *application.Passkeys, a account, caller application.Principal) error {
				return p.Delete(context.Background(), caller, "pk-"+a.id)
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			w := newMFAWorld(t)
			p := w.withRegistration()
			a := c.setup(t, w, p)
			pwd, twoFactor := sessionsOf(a.id)
			before := w.factorState(t, p, a.id)
			if err := c.change(w, p, a, pwd); !errors.Is(err, application.ErrMFARequired) {
				t.Fatalf("from a password-only session: %v, want ErrMFARequired", err)
			}
			if after := w.factorState(t, p, a.id); !after.equal(before) {
				t.Fatalf("a refused change changed the factors: %+v, was %+v", after, before)
			}
			if err := c.change(w, p, a, twoFactor); err != nil {
				t.Fatalf("from a session opened with a second factor: %v", err)
			}
			if after := w.factorState(t, p, a.id); after.equal(before) {
				t.Fatalf("the allowed change left the factors as they were: %+v", after)
			}
		})
	}
}

// An account with no second factor adds its first from a session opened with the password
// alone: that is how enrolment starts.
func TestFirstFactorFromAPasswordSession(t *testing.T) {
	ctx := context.Background()
	t.Run("passkey", func(t *testing.T) {
		w := newMFAWorld(t)
		p := w.withRegistration()
		w.registerAndLogin(t, "a@x.com")
		pwd, _ := sessionsOf(mustUser(t, w.world, "a@x.com").ID)
		c, err := p.BeginRegistration(ctx, pwd, goodPassword)
		if err != nil {
			t.Fatalf("begin: %v", err)
		}
		if _, err := p.FinishRegistration(ctx, pwd, c.Token, "", []byte("cred-a")); err != nil {
			t.Fatalf("finish: %v", err)
		}
		// The second one is a change to an account with a factor.
		if _, err := p.BeginRegistration(ctx, pwd, goodPassword); !errors.Is(err, application.ErrMFARequired) {
			t.Fatalf("a second passkey from the same session: %v, want ErrMFARequired", err)
		}
	})
	t.Run("TOTP", func(t *testing.T) {
		w := newMFAWorld(t)
		w.withRegistration()
		w.enrolled(t, "b@x.com") // enrols and confirms with a password-only caller
	})
}

// Recovery codes stand in for a factor, whichever it is: a user whose only factor is a passkey
// sees them among the methods (status and login), and they go with the last factor, passkey or
// TOTP, and stay while another factor remains.
func TestRecoveryCodesFollowTheFactors(t *testing.T) {
	ctx := context.Background()
	t.Run("passkey only", func(t *testing.T) {
		w := newMFAWorld(t)
		p := w.withRegistration()
		w.registerAndLogin(t, "pk@x.com")
		id := mustUser(t, w.world, "pk@x.com").ID
		pk := w.addPasskey(t, id)
		_, twoFactor := sessionsOf(id)
		codes, err := w.totp.RegenerateRecoveryCodes(ctx, twoFactor, goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{application.MethodRecoveryCode, application.MethodPasskey}
		if st := w.factorState(t, p, id).status; !slices.Equal(st.Methods, want) || st.RecoveryCodes != len(codes) {
			t.Fatalf("status of a passkey-only user with recovery codes: %+v, want methods %v", st, want)
		}
		out, err := w.login.Handle(ctx, application.LoginInput{Identifier: "pk@x.com", Password: goodPassword})
		if err != nil || out.MFA == nil || !slices.Equal(out.MFA.Methods, want) {
			t.Fatalf("login of a passkey-only user with recovery codes: %+v, %v; want methods %v", out.MFA, err, want)
		}
		if _, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: out.MFA.Token, RecoveryCode: codes[0]}); err != nil {
			t.Fatalf("a listed recovery code: %v", err)
		}
		if err := p.Delete(ctx, twoFactor, pk); err != nil {
			t.Fatal(err)
		}
		if st := w.factorState(t, p, id).status; len(st.Methods) != 0 || st.RecoveryCodes != 0 {
			t.Fatalf("status after the last passkey went: %+v, want no methods and no codes", st)
		}
	})
	// Codes left behind by a factor removed before its codes went with it (data from an older
	// version, or a removal that failed halfway) must not come back with a first new factor.
	t.Run("orphaned codes and a first passkey", func(t *testing.T) {
		w := newMFAWorld(t)
		p := w.withRegistration()
		id, _, codes := w.enrolled(t, "orphan@x.com")
		if err := w.totpStore.Delete(ctx, id); err != nil { // the authenticator goes, its codes stay
			t.Fatal(err)
		}
		if n, err := w.codes.Count(ctx, id); err != nil || n != len(codes) {
			t.Fatalf("orphaned codes: %d, %v; want %d", n, err, len(codes))
		}
		pwd, _ := sessionsOf(id)
		c, err := p.BeginRegistration(ctx, pwd, goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishRegistration(ctx, pwd, c.Token, "", []byte("cred-orphan")); err != nil {
			t.Fatal(err)
		}
		want := []string{application.MethodPasskey}
		if st := w.factorState(t, p, id).status; !slices.Equal(st.Methods, want) || st.RecoveryCodes != 0 {
			t.Fatalf("status after a first passkey over orphaned codes: %+v, want methods %v and no codes", st, want)
		}
		out, err := w.login.Handle(ctx, application.LoginInput{Identifier: "orphan@x.com", Password: goodPassword})
		if err != nil || out.MFA == nil {
			t.Fatalf("login: %+v, %v; want a second step", out, err)
		}
		if _, err := w.verify.Handle(ctx, application.MFAVerifyInput{MFAToken: out.MFA.Token, RecoveryCode: codes[0]}); err == nil {
			t.Fatal("an orphaned recovery code completed a login after a first passkey was registered")
		}
	})
	t.Run("TOTP and a passkey", func(t *testing.T) {
		w := newMFAWorld(t)
		p := w.withRegistration()
		id, secret, codes := w.enrolled(t, "both@x.com")
		pk := w.addPasskey(t, id)
		_, twoFactor := sessionsOf(id)
		if err := p.Delete(ctx, twoFactor, pk); err != nil {
			t.Fatal(err)
		}
		if st := w.factorState(t, p, id).status; st.RecoveryCodes != len(codes) {
			t.Fatalf("recovery codes after a passkey went with TOTP left: %d, want %d", st.RecoveryCodes, len(codes))
		}
		w.addPasskey(t, id)
		w.clock.Advance(domain.TOTPPeriod)
		code, err := otp.Code(secret, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := w.totp.Disable(ctx, id, twoFactor.SessionID, goodPassword, code); err != nil {
			t.Fatal(err)
		}
		want := []string{application.MethodRecoveryCode, application.MethodPasskey}
		if st := w.factorState(t, p, id).status; !slices.Equal(st.Methods, want) || st.RecoveryCodes != len(codes) {
			t.Fatalf("status after TOTP went with a passkey left: %+v, want methods %v", st, want)
		}
	})
}

// Adding a way in (a first or further passkey, a TOTP authenticator, new recovery codes) takes the
// account's password, from any session: a stolen access token alone must not buy a passkey that
// logs in for good, or an authenticator that locks the owner out. A missing password is a
// missing field and a wrong one invalid credentials; neither changes anything.
func TestAddingAWayInTakesThePassword(t *testing.T) {
	ctx := context.Background()
	noFactor := func(email string) func(t *testing.T, w *mfaWorld) string {
		return func(t *testing.T, w *mfaWorld) string {
			w.registerAndLogin(t, email)
			return mustUser(t, w.world, email).ID
		}
	}
	withTOTP := func(email string) func(t *testing.T, w *mfaWorld) string {
		return func(t *testing.T, w *mfaWorld) string {
			id, _, _ := w.enrolled(t, email)
			return id
		}
	}
	adds := map[string]struct {
		setup func(t *testing.T, w *mfaWorld) string // the account's id
		add   func(w *mfaWorld, p *application.Passkeys, caller application.Principal, password string) error
	}{
		"a first passkey": {
			setup: noFactor("a@x.com"),
			add: func(_ *mfaWorld, p *application.Passkeys, caller application.Principal, password string) error {
				_, err := p.BeginRegistration(ctx, caller, password)
				return err
			},
		},
		"a first authenticator": {
			setup: noFactor("b@x.com"),
			add: func(w *mfaWorld, _ *application.Passkeys, caller application.Principal, password string) error {
				_, err := w.totp.Enrol(ctx, caller, password)
				return err
			},
		},
		"another passkey": {
			setup: withTOTP("c@x.com"),
			add: func(_ *mfaWorld, p *application.Passkeys, caller application.Principal, password string) error {
				_, err := p.BeginRegistration(ctx, caller, password)
				return err
			},
		},
		"new recovery codes": {
			setup: withTOTP("d@x.com"),
			add: func(w *mfaWorld, _ *application.Passkeys, caller application.Principal, password string) error {
				_, err := w.totp.RegenerateRecoveryCodes(ctx, caller, password)
				return err
			},
		},
	}
	for name, c := range adds {
		t.Run(name, func(t *testing.T) {
			w := newMFAWorld(t)
			p := w.withRegistration()
			id := c.setup(t, w)
			// A session opened with a second factor passes the factor rule, so only the
			// password stands in the way.
			_, twoFactor := sessionsOf(id)
			before := w.factorState(t, p, id)
			var missing *domain.ValidationError
			if err := c.add(w, p, twoFactor, ""); !errors.As(err, &missing) || len(missing.Fields) != 1 || missing.Fields[0].Field != "password" {
				t.Fatalf("no password: %v, want a validation error naming password", err)
			}
			if err := c.add(w, p, twoFactor, "not-the-password"); !errors.Is(err, domain.ErrInvalidCredentials) {
				t.Fatalf("a wrong password: %v, want ErrInvalidCredentials", err)
			}
			if after := w.factorState(t, p, id); !after.equal(before) {
				t.Fatalf("a refused addition changed the factors: %+v, was %+v", after, before)
			}
			if err := c.add(w, p, twoFactor, goodPassword); err != nil {
				t.Fatalf("with the password: %v", err)
			}
		})
	}
}
