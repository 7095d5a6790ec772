package application_test

import (
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/identity"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// mailWorld is the e-mail flows over the memory stores, the real hasher and a delivery worker
// whose mailer keeps every mail it sends, with one account (ada@example.com, goodPassword)
// signed in.
type mailWorld struct {
	*world
	mailer   *scriptedMailer
	outbox   *memstore.Outbox
	worker   *application.MailDelivery
	change   *application.ChangeEmail
	reset    *application.PasswordReset
	password *application.ChangePassword
	user     domain.User
	session  application.Principal
}

func newMailWorld(t *testing.T) *mailWorld {
	t.Helper()
	w := &mailWorld{world: newWorld(t), mailer: &scriptedMailer{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ids := system.NewIDs()
	tokens := memstore.NewOneTimeTokens()
	w.outbox = memstore.NewOutbox(tokens)
	settings := application.MailSettings{PublicURL: "https://auth.example.com", AddressInterval: time.Millisecond, SendTimeout: 5 * time.Second,
		MaxAttempts: 2, RetryBase: time.Minute, RetryMax: time.Minute}
	queue := application.NewMailQueue(w.outbox, memstore.NewRateLimiter(w.clock), w.clock, ids, settings, w.settings, log)
	w.worker = application.NewMailDelivery(w.outbox, w.users, linkComposer{}, w.mailer, w.clock, ids, settings, log)
	audit := application.NewAuditor(w.auditLog, w.clock, ids, log)
	w.change = application.NewChangeEmail(w.users, identity.New(), w.hasher, tokens, queue, w.clock, nil, audit, log)
	w.reset = application.NewPasswordReset(w.users, identity.New(), w.sessions, w.hasher, tokens, queue, w.clock, nil, audit, log)
	w.password = application.NewChangePassword(w.users, w.sessions, w.hasher, w.clock, nil, audit, tokens, queue, log)
	out := w.registerAndLogin(t, "ada@example.com")
	w.session = mustAuth(t, w.world, out.AccessToken)
	w.user = mustUser(t, w.world, "ada@example.com")
	return w
}

// deliver runs the delivery worker until the outbox has nothing due.
func (w *mailWorld) deliver(t *testing.T) {
	t.Helper()
	for {
		n, err := w.worker.RunOnce(t.Context())
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// requestChange asks, from the signed-in session with the password, to move the account to to.
func (w *mailWorld) requestChange(t *testing.T, to string) {
	t.Helper()
	if err := w.change.Request(t.Context(), application.ChangeEmailInput{UserID: w.user.ID, NewEmail: to, Password: goodPassword}); err != nil {
		t.Fatalf("request: %v", err)
	}
}

// changePassword changes the password from the signed-in session.
func (w *mailWorld) changePassword(t *testing.T) {
	t.Helper()
	if err := w.password.Handle(t.Context(), application.ChangePasswordInput{UserID: w.user.ID, SessionID: w.session.SessionID,
		CurrentPassword: goodPassword, NewPassword: "only the owner knows"}); err != nil {
		t.Fatalf("change password: %v", err)
	}
}

// links are the tokens of every link sent to to.
func (w *mailWorld) links(to string) []string {
	w.mailer.mu.Lock()
	defer w.mailer.mu.Unlock()
	var out []string
	for _, m := range w.mailer.sent {
		if _, token, ok := strings.Cut(m.Link, "?token="); m.To == to && ok {
			out = append(out, token)
		}
	}
	return out
}

// token is the token of the newest link sent to to.
func (w *mailWorld) token(t *testing.T, to string) string {
	t.Helper()
	w.mailer.mu.Lock()
	defer w.mailer.mu.Unlock()
	for i := len(w.mailer.sent) - 1; i >= 0; i-- {
		if m := w.mailer.sent[i]; m.To == to && m.Link != "" {
			_, token, _ := strings.Cut(m.Link, "?token=")
			return token
		}
	}
	t.Fatalf("no link was sent to %s", to)
	return ""
}

// The notice of an address change tells the owner who did not ask for it to change their
// password. A link to another address asked for from a session (whoever learned the password)
// must then stop working: else its holder moves the account to their own address after the
// owner has changed or reset the password, and resets it again from there.
func TestChangeEmail_PasswordChangeOrResetEndsThePendingChange(t *testing.T) {
	const theirs = "mallory@example.net"
	cases := []struct {
		name   string
		secure func(t *testing.T, w *mailWorld)
	}{
		{"password change", func(t *testing.T, w *mailWorld) {
			w.changePassword(t)
		}},
		{"password reset", func(t *testing.T, w *mailWorld) {
			if err := w.reset.Forgot(t.Context(), w.user.Email); err != nil {
				t.Fatalf("forgot: %v", err)
			}
			w.deliver(t)
			if err := w.reset.Reset(t.Context(), w.token(t, w.user.Email), "only the owner knows"); err != nil {
				t.Fatalf("reset: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newMailWorld(t)
			ctx := t.Context()
			w.requestChange(t, theirs)
			w.deliver(t)
			link := w.token(t, theirs)

			w.clock.Advance(time.Minute)
			tc.secure(t, w)

			if err := w.change.Confirm(ctx, link); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
				t.Fatalf("confirm after the %s: %v, want the invalid token", tc.name, err)
			}
			if u := mustUser(t, w.world, "ada@example.com"); u.Email != "ada@example.com" {
				t.Fatalf("the account moved to %s", u.Email)
			}
		})
	}
}

// The address-change mail may still be in the outbox when the password changes: not yet sent,
// held up by an SMTP outage (whose next attempt after half the link's lifetime makes a fresh
// token), or failed and retried by an operator later. None of these may go out after the change
// with a link that works.
func TestChangeEmail_PasswordChangeEndsTheChangeMailStillInTheOutbox(t *testing.T) {
	const theirs = "mallory@example.net"
	cases := []struct {
		name string
		// before runs between the request and the password change, after between the change and
		// the last delivery.
		before, after func(t *testing.T, w *mailWorld)
	}{
		{"not yet sent", func(*testing.T, *mailWorld) {}, func(*testing.T, *mailWorld) {}},
		{"held up by an outage", func(t *testing.T, w *mailWorld) {
			w.mailer.setDown(true)
			w.deliver(t)
		}, func(t *testing.T, w *mailWorld) {
			w.mailer.setDown(false)
			w.clock.Advance(31 * time.Minute) // past half the change link's hour: a fresh token
		}},
		{"failed, then retried by an operator", func(t *testing.T, w *mailWorld) {
			w.mailer.setDown(true)
			w.deliver(t)
			w.clock.Advance(2 * time.Minute)
			w.deliver(t) // the second and last attempt: failed
		}, func(t *testing.T, w *mailWorld) {
			w.mailer.setDown(false)
			failed, err := w.outbox.List(t.Context(), domain.OutboxQuery{Status: domain.MailFailed})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range failed {
				// The operator retries every failed message; the cancelled one is not among them.
				if err := application.NewOutbox(w.outbox, w.clock).Retry(t.Context(), application.Operator, m.ID); err != nil {
					t.Fatalf("retry %s: %v", m.Kind, err)
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newMailWorld(t)
			ctx := t.Context()
			w.requestChange(t, theirs)
			tc.before(t, w)
			w.changePassword(t)
			tc.after(t, w)
			w.deliver(t)

			for _, link := range w.links(theirs) {
				if err := w.change.Confirm(ctx, link); !errors.Is(err, domain.ErrInvalidOneTimeToken) {
					t.Fatalf("a link sent to %s works after the password change: %v", theirs, err)
				}
			}
			list, err := w.outbox.List(ctx, domain.OutboxQuery{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range list {
				if m.Kind == domain.MailConfirmEmailChange && m.Status != domain.MailDropped {
					t.Fatalf("the address-change mail after the password change: %+v, want it dropped", m)
				}
			}
			if u := mustUser(t, w.world, "ada@example.com"); u.Email != "ada@example.com" {
				t.Fatalf("the account moved to %s", u.Email)
			}
		})
	}
}

// Anyone may register an address they do not hold, and with verification not required sign in
// and give the account a passkey or an authenticator. When the owner of the address later takes
// the account over with a reset (the first proof of the mailbox), those must go with the old
// password, or their holder logs in with the passkey alone. A reset of a verified account keeps
// its factors: a mailed link alone must not remove a second factor.
func TestPasswordReset_UnverifiedAccountLosesFactorsAddedBeforeIt(t *testing.T) {
	for _, verified := range []bool{false, true} {
		t.Run(map[bool]string{false: "unverified", true: "verified"}[verified], func(t *testing.T) {
			w := newMFAWorld(t)
			ctx := t.Context()
			passkeys := w.withRegistration()
			const email = "victim@example.com"
			userID, _, _ := w.enrolled(t, email)
			w.addPasskey(t, userID)
			if verified {
				u := mustUser(t, w.world, email)
				u.EmailVerified = true
				if _, err := w.users.Update(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			before := w.factorState(t, passkeys, userID)
			if before.status.TOTP != "enabled" || before.passkeys != 1 {
				t.Fatalf("before the reset: %+v", before)
			}

			tokens := memstore.NewOneTimeTokens()
			const secret = "a-reset-link-token"
			h := sha256.Sum256([]byte(secret))
			if err := tokens.Create(ctx, domain.OneTimeToken{Hash: h[:], UserID: userID, Purpose: domain.PurposeResetPassword,
				NewEmail: email, CreatedAt: w.clock.Now(), ExpiresAt: w.clock.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			reset := application.NewPasswordReset(w.users, identity.New(), w.sessions, w.hasher, tokens, nil, w.clock, nil,
				application.NewAuditor(w.auditLog, w.clock, system.NewIDs(), discard()), discard())
			reset.UseSecondFactors(w.factors)
			if err := reset.Reset(ctx, secret, "the owner's own passphrase"); err != nil {
				t.Fatalf("reset: %v", err)
			}

			after := w.factorState(t, passkeys, userID)
			switch {
			case !verified && (after.status.TOTP != "none" || after.status.RecoveryCodes != 0 || after.passkeys != 0):
				t.Fatalf("after the reset that proved the address: %+v, want no factor left", after)
			case verified && (after.status.TOTP != "enabled" || after.passkeys != 1 || after.status.RecoveryCodes != before.status.RecoveryCodes):
				t.Fatalf("after the reset of a verified account: %+v, want its factors kept (%+v)", after, before)
			}
		})
	}
}

// With PORTCULLIS_REQUIRE_VERIFIED_EMAIL registration must not tell whether an address has an
// account. A username that is taken is still refused (409 on "username"), and that answer must
// not depend on the address either: else registering any address with a known taken username
// answers 409 for a free address and 202 for a taken one.
func TestRegister_ConcealedAnswerDoesNotDependOnTheAddress(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ids := system.NewIDs()
	policy := w.settings
	policy.RequireVerifiedEmail = true
	queue := application.NewMailQueue(memstore.NewOutbox(memstore.NewOneTimeTokens()), memstore.NewRateLimiter(w.clock), w.clock, ids,
		application.MailSettings{PublicURL: "https://auth.example.com"}, policy, log)
	register := application.NewRegister(w.users, identity.New(), w.hasher, w.clock, ids, application.NewAuditor(w.auditLog, w.clock, ids, log), queue, log)
	if !register.Concealed() {
		t.Fatal("registration is not concealed with verification required")
	}
	if _, err := register.Handle(ctx, application.RegisterInput{Email: "taken@example.com", Password: goodPassword, Username: "taken_name"}); err != nil {
		t.Fatal(err)
	}
	// outcome is what the client learns: no error, or the field of a conflict.
	outcome := func(email, username string) string {
		_, err := register.Handle(ctx, application.RegisterInput{Email: email, Password: goodPassword, Username: username})
		var ce *domain.ConflictError
		switch {
		case err == nil:
			return "accepted"
		case errors.As(err, &ce):
			return "conflict on " + ce.Field
		}
		t.Fatalf("register %s %s: %v", email, username, err)
		return ""
	}
	for _, username := range []string{"taken_name", "free_name"} {
		taken, fresh := outcome("taken@example.com", username), outcome("fresh-"+username+"@example.com", username)
		if taken != fresh {
			t.Errorf("with username %s: a taken address is %q, a free one %q", username, taken, fresh)
		}
	}
}
