package e2e

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The e-mail flows against a real SMTP server (Mailpit): every message is read back through
// Mailpit's API, its link followed as a person would.

// mailPublicURL is the public URL the mail tests configure; every link must start with it.
const mailPublicURL = "https://auth.example.test"

// mailWait bounds how long a test waits for a message that never arrives; a wait ends as soon
// as the message is there. It is long because on a loaded machine (load 20 on 2 cores, -race)
// one SMTP attempt can run into PORTCULLIS_MAIL_SEND_TIMEOUT and be retried.
const mailWait = 60 * time.Second

// mailServer starts Portcullis delivering to mp (with STARTTLS and a login when mp has them),
// quick to poll and retry, and with no per-address interval unless env sets one.
func mailServer(t *testing.T, mp *testenv.Mailpit, env map[string]string) *server {
	t.Helper()
	return startServer(t, mailEnvFor(mp, env))
}

// startServerWith is startServer with extra fx options (to reach a port, say).
func startServerWith(t *testing.T, env map[string]string, extra ...fx.Option) *server {
	t.Helper()
	return startServer(t, env, extra...)
}

// mailEnvFor is the environment of mailServer.
func mailEnvFor(mp *testenv.Mailpit, env map[string]string) map[string]string {
	full := map[string]string{
		"PORTCULLIS_PUBLIC_URL":            mailPublicURL,
		"PORTCULLIS_ALLOWED_ORIGINS":       testOrigin,
		"PORTCULLIS_SMTP_URL":              "smtp://127.0.0.1:" + strings.Split(mp.SMTPAddr, ":")[1] + "?starttls=none",
		"PORTCULLIS_MAIL_FROM":             "Portcullis Test <no-reply@auth.example.test>",
		"PORTCULLIS_MAIL_REPLY_TO":         "help@auth.example.test",
		"PORTCULLIS_MAIL_POLL_INTERVAL":    "100ms",
		"PORTCULLIS_MAIL_RETRY_BASE":       "200ms",
		"PORTCULLIS_MAIL_RETRY_MAX":        "1s",
		"PORTCULLIS_MAIL_SEND_TIMEOUT":     "5s",
		"PORTCULLIS_MAIL_ADDRESS_INTERVAL": "1ms",
		"PORTCULLIS_RATE_MAIL_IP":          "10000/1h",
	}
	if mp.CAFile != "" {
		full["PORTCULLIS_SMTP_URL"] = "smtp://portcullis:mail-s3cret@" + mp.SMTPAddr
		full["PORTCULLIS_SMTP_TLS_CA_FILE"] = mp.CAFile
	}
	maps.Copy(full, env)
	return full
}

// linkPattern finds a link of the mail tests' public URL and its token.
var linkPattern = regexp.MustCompile(regexp.QuoteMeta(mailPublicURL) + `(/[a-z-]+)\?token=([A-Za-z0-9_-]+)`)

// resetMail is the password reset mail among msgs (a verification mail and a reset mail to one
// address). Their order in Mailpit is not the order they were asked for: the delivery worker
// sends the messages of one claim concurrently, so a reset queued just after the registration
// may arrive first.
func resetMail(t *testing.T, msgs []testenv.MailpitMessage) testenv.MailpitMessage {
	t.Helper()
	for _, m := range msgs {
		if linkTo("/reset-password")(m) {
			return m
		}
	}
	t.Fatalf("no password reset mail among %d", len(msgs))
	return testenv.MailpitMessage{}
}

// waitMail waits (at most mailWait) for a mail to to that match accepts and returns it; what
// names it in the failure. Tests pick a mail by what it is (its link, its subject), never by
// its place in the mailbox: the delivery worker sends the messages of one claim concurrently,
// and a retried message (an attempt that timed out on a loaded machine) may arrive twice or late.
func waitMail(t *testing.T, mp *testenv.Mailpit, to, what string, match func(testenv.MailpitMessage) bool) testenv.MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		got := mp.Messages(to)
		for _, m := range got {
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			subjects := make([]string, len(got))
			for i, m := range got {
				subjects[i] = m.Subject
			}
			t.Fatalf("no %s to %s after %s among %d mails: %q", what, to, mailWait, len(got), subjects)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// linkTo matches a mail with a one-time link to path ("/reset-password", "/verify-email").
func linkTo(path string) func(testenv.MailpitMessage) bool {
	return func(m testenv.MailpitMessage) bool { return strings.Contains(m.Text, path+"?token=") }
}

// subjectHas matches a mail whose subject contains s.
func subjectHas(s string) func(testenv.MailpitMessage) bool {
	return func(m testenv.MailpitMessage) bool { return strings.Contains(m.Subject, s) }
}

// mailLink returns the path and token of the one link in msg's text, checking the HTML part
// carries the same link.
func mailLink(t *testing.T, msg testenv.MailpitMessage) (path, token string) {
	t.Helper()
	m := linkPattern.FindAllStringSubmatch(msg.Text, -1)
	if len(m) == 0 {
		t.Fatalf("no %s link in the text of %q:\n%s", mailPublicURL, msg.Subject, msg.Text)
	}
	for _, x := range m[1:] {
		if x[0] != m[0][0] {
			t.Fatalf("two different links in %q", msg.Subject)
		}
	}
	if !strings.Contains(msg.HTML, `href="`+m[0][0]+`"`) {
		t.Fatalf("the HTML part of %q does not link %s:\n%s", msg.Subject, m[0][0], msg.HTML)
	}
	return m[0][1], m[0][2]
}

// me returns the caller's user.
func (c *client) me(t *testing.T, token string) user {
	t.Helper()
	var out struct {
		User user `json:"user"`
	}
	c.do("GET", "/api/users/me", nil, bearer(token)...).expect(http.StatusOK).decode(&out)
	return out.User
}

func TestMailFlowsOverSMTP(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{TLS: true, User: "portcullis", Password: "mail-s3cret"})
	for _, b := range backends() {
		if b.name != "sqlite-sql" && b.name != "mysql-redis" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			s := mailServer(t, mp, b.env(t))
			c := s.apiClient().in(t)

			// Registration mails a verification link; GET of the page spends nothing.
			a := c.register(t)
			msgs := mp.WaitMessages(a.Email, 1, mailWait)
			v := msgs[0]
			if v.From.Address != "no-reply@auth.example.test" || v.From.Name != "Portcullis Test" ||
				len(v.ReplyTo) != 1 || v.ReplyTo[0].Address != "help@auth.example.test" || !strings.Contains(v.Subject, "Verify") {
				t.Fatalf("verification mail: from %+v reply-to %+v subject %q", v.From, v.ReplyTo, v.Subject)
			}
			if v.Text == "" || v.HTML == "" {
				t.Fatalf("verification mail lacks a part: text %d bytes, html %d bytes", len(v.Text), len(v.HTML))
			}
			path, token := mailLink(t, v)
			if path != "/verify-email" {
				t.Fatalf("verification link path %q", path)
			}
			page := c.do("GET", path+"?token="+token, nil).expect(http.StatusOK)
			if !strings.Contains(string(page.Body), `id="verify-email-form"`) {
				t.Fatalf("verify page has no form:\n%s", page.Body)
			}
			tk := c.login(t, a)
			if c.me(t, tk.AccessToken).EmailVerified {
				t.Fatal("verified before the link was used")
			}
			c.do("POST", "/api/auth/verify-email", map[string]string{"token": token}).expect(http.StatusNoContent)
			if !c.me(t, tk.AccessToken).EmailVerified {
				t.Fatal("not verified after the link was used")
			}
			c.do("POST", "/api/auth/verify-email", map[string]string{"token": token}).expect(http.StatusBadRequest)

			// Forgot password: a reset link; the reset ends every session and mails a notice.
			c.do("POST", "/api/auth/password/forgot", map[string]string{"email": strings.ToUpper(a.Email)}).expect(http.StatusAccepted)
			reset := waitMail(t, mp, a.Email, "password reset mail", linkTo("/reset-password"))
			path, token = mailLink(t, reset)
			if path != "/reset-password" || !strings.Contains(reset.Subject, "Reset") {
				t.Fatalf("reset mail: %q, link %s", reset.Subject, path)
			}
			const newPassword = "a brand new passphrase"
			c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": newPassword}).
				expect(http.StatusNoContent)
			if st := c.meStatus(tk.AccessToken); st != http.StatusUnauthorized {
				t.Fatalf("a session survived the reset: /me %d", st)
			}
			c.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusUnauthorized)
			a.Password = newPassword
			tk = c.login(t, a)
			waitMail(t, mp, a.Email, "reset notice (a subject with \"was reset\")", subjectHas("was reset"))

			// E-mail change: a link to the new address, a notice to the old one.
			newEmail := "moved-" + randHex(4) + "@example.org"
			c.do("POST", "/api/users/me/email", map[string]string{"new_email": newEmail, "password": "wrong password!"},
				bearer(tk.AccessToken)...).expect(http.StatusUnauthorized)
			c.do("POST", "/api/users/me/email", map[string]string{"new_email": newEmail, "password": a.Password},
				bearer(tk.AccessToken)...).expect(http.StatusAccepted)
			confirm := mp.WaitMessages(newEmail, 1, mailWait)
			notice := waitMail(t, mp, a.Email, "notice of the e-mail change", subjectHas("about to change"))
			if !strings.Contains(notice.Subject, "about to change") || !strings.Contains(notice.Text, newEmail) {
				t.Fatalf("notice to the old address: %q\n%s", notice.Subject, notice.Text)
			}
			path, token = mailLink(t, confirm[0])
			if path != "/confirm-email" {
				t.Fatalf("confirmation link path %q", path)
			}
			if u := c.me(t, tk.AccessToken); u.Email != a.Email {
				t.Fatalf("the address changed before confirmation: %s", u.Email)
			}
			c.do("POST", "/api/auth/email/confirm", map[string]string{"token": token}).expect(http.StatusNoContent)
			if u := c.me(t, tk.AccessToken); u.Email != newEmail || !u.EmailVerified {
				t.Fatalf("after confirmation: %+v", u)
			}
			a.Email = newEmail
			c.login(t, a)

			// A password change mails a notice to the (new) address.
			c.do("PUT", "/api/users/me/password", map[string]string{"current_password": a.Password, "new_password": "yet another passphrase"},
				bearer(tk.AccessToken)...).expect(http.StatusNoContent)
			waitMail(t, mp, newEmail, "password change notice (a subject with \"password was changed\")", subjectHas("password was changed"))
		})
	}
}

// TestLinkPagesCompleteTheFlows follows each link to the page Portcullis serves and presses its
// button (a form post), as a person without any front-end would.
func TestLinkPagesCompleteTheFlows(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, nil)
	c := s.apiClient()
	a := c.register(t)
	_, token := mailLink(t, mp.WaitMessages(a.Email, 1, mailWait)[0])
	form := func(path string, v url.Values) *resp {
		return c.do("POST", path, v.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Origin", mailPublicURL)
	}
	for range 2 { // a scanner's GET, twice, spends nothing
		c.do("GET", "/verify-email?token="+token, nil).expect(http.StatusOK)
	}
	if r := form("/verify-email", url.Values{"token": {token}}).expect(http.StatusOK); !strings.Contains(string(r.Body), `data-outcome="verified"`) {
		t.Fatalf("verify page result:\n%s", r.Body)
	}
	if r := form("/verify-email", url.Values{"token": {token}}).expect(http.StatusBadRequest); !strings.Contains(string(r.Body), `data-outcome="invalid_token"`) {
		t.Fatalf("verify page, used token:\n%s", r.Body)
	}

	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, token = mailLink(t, waitMail(t, mp, a.Email, "password reset mail", linkTo("/reset-password")))
	r := c.do("GET", "/reset-password?token="+token, nil).expect(http.StatusOK)
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Fatalf("page CSP %q", csp)
	}
	r = form("/reset-password", url.Values{"token": {token}, "new_password": {"short"}, "new_password_confirm": {"short"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `data-code="password_too_short"`) {
		t.Fatalf("short password: %d\n%s", r.Status, r.Body)
	}
	r = form("/reset-password", url.Values{"token": {token}, "new_password": {"one new passphrase"}, "new_password_confirm": {"another passphrase"}})
	if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), `data-code="passwords_differ"`) {
		t.Fatalf("different passwords: %d\n%s", r.Status, r.Body)
	}
	r = form("/reset-password", url.Values{"token": {token}, "new_password": {"one new passphrase"}, "new_password_confirm": {"one new passphrase"}})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `data-outcome="password_reset"`) {
		t.Fatalf("reset page result: %d\n%s", r.Status, r.Body)
	}
	a.Password = "one new passphrase"
	tk := c.login(t, a)

	newEmail := "paged-" + randHex(4) + "@example.org"
	c.do("POST", "/api/users/me/email", map[string]string{"new_email": newEmail, "password": a.Password}, bearer(tk.AccessToken)...).
		expect(http.StatusAccepted)
	_, token = mailLink(t, mp.WaitMessages(newEmail, 1, mailWait)[0])
	c.do("GET", "/confirm-email?token="+token, nil).expect(http.StatusOK)
	if c.me(t, tk.AccessToken).Email != a.Email {
		t.Fatal("GET of the confirmation page changed the address")
	}
	if r := form("/confirm-email", url.Values{"token": {token}}).expect(http.StatusOK); !strings.Contains(string(r.Body), `data-outcome="email_changed"`) {
		t.Fatalf("confirm page result:\n%s", r.Body)
	}
	if got := c.me(t, tk.AccessToken); got.Email != newEmail || !got.EmailVerified {
		t.Fatalf("after the confirmation page: %+v", got)
	}
}

// An address on an internationalised domain is stored with the domain's U-label and mailed to
// its A-label, which every relay accepts.
func TestMailToInternationalisedDomain(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, nil)
	c := s.apiClient().in(t)
	local := "ann-" + randHex(4)
	var out struct {
		User user `json:"user"`
	}
	c.do("POST", "/api/auth/register", map[string]string{"email": local + "@BÜCHER.example", "password": goodPassword}).
		expect(http.StatusCreated).decode(&out)
	if out.User.Email != local+"@bücher.example" {
		t.Fatalf("stored as %q", out.User.Email)
	}
	msgs := mp.WaitMessages(local+"@xn--bcher-kva.example", 1, mailWait)
	if !strings.Contains(msgs[0].Subject, "Verify") {
		t.Fatalf("mail to the A-label: %q", msgs[0].Subject)
	}
}

// resetOutage is a server over one backend, delivering to Mailpit with two attempts per
// message, and a registered account whose reset mail failed for good while Mailpit was down.
type resetOutage struct {
	c      *client
	a      account
	outbox ports.MailOutbox
	mails  *application.Outbox
	failed string // the id of the failed reset message
}

// failReset starts the server of a resetOutage, registers an account, stops mp and asks for a
// reset, waits until its message has failed, and starts mp again.
func failReset(t *testing.T, mp *testenv.Mailpit, b backend) *resetOutage {
	t.Helper()
	r := &resetOutage{}
	env := b.env(t)
	env["PORTCULLIS_MAIL_MAX_ATTEMPTS"] = "2"
	s := startServerWith(t, mailEnvFor(mp, env), fx.Populate(&r.outbox, &r.mails))
	r.c = s.apiClient().in(t)
	r.a = r.c.register(t)
	waitMail(t, mp, r.a.Email, "verification mail", linkTo("/verify-email"))

	mp.Stop()
	r.c.do("POST", "/api/auth/password/forgot", map[string]string{"email": r.a.Email}).expect(http.StatusAccepted)
	waitOutbox(t, r.outbox, func(m domain.OutboxMail) bool { return r.isReset(m) && m.Status == domain.MailFailed })
	list, err := r.outbox.List(t.Context(), domain.OutboxQuery{Status: domain.MailFailed})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, r.isReset)
	if i < 0 {
		t.Fatal("the failed reset mail is not listed as failed")
	}
	r.failed = list[i].ID
	mp.Start()
	return r
}

// isReset reports whether m is a reset mail to the account.
func (r *resetOutage) isReset(m domain.OutboxMail) bool {
	return m.To == r.a.Email && m.Kind == domain.MailResetPassword
}

// message returns the outbox message with id.
func (r *resetOutage) message(t *testing.T, id string) domain.OutboxMail {
	t.Helper()
	list, err := r.outbox.List(t.Context(), domain.OutboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(m domain.OutboxMail) bool { return m.ID == id })
	if i < 0 {
		t.Fatalf("message %s is not in the outbox", id)
	}
	return list[i]
}

// TestMailRetriedAfterOutageCarriesAWorkingLink: a reset mail that used up its attempts while
// SMTP was down is failed, and its link wiped; `portcullis mail retry` (the Outbox use case it
// calls) sends it again with a fresh link, with which the reset succeeds.
func TestMailRetriedAfterOutageCarriesAWorkingLink(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	for _, b := range backends() {
		if b.name != "sqlite-sql" && b.name != "mysql-redis" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			r := failReset(t, mp, b)
			if err := r.mails.Retry(t.Context(), application.Operator, r.failed); err != nil {
				t.Fatalf("retry: %v", err)
			}
			reset := waitMail(t, mp, r.a.Email, "password reset mail", subjectHas("Reset"))
			path, token := mailLink(t, reset)
			if path != "/reset-password" {
				t.Fatalf("the retried mail links %s", path)
			}
			waitOutbox(t, r.outbox, func(m domain.OutboxMail) bool { return r.isReset(m) && m.Status == domain.MailSent })
			const newPassword = "a passphrase after the outage"
			r.c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": newPassword}).
				expect(http.StatusNoContent)
			r.a.Password = newPassword
			r.c.login(t, r.a)
		})
	}
}

// TestMailRetryOfASupersededMessageKeepsTheNewerLink: a reset mail A fails for good while SMTP
// is down; the user asks again and gets reset mail B. `portcullis mail retry` of A then must not
// send A with a fresh token, which would end B's link, the one the user is about to open: A is
// dropped as superseded, nothing more is mailed, and B's link resets the password.
func TestMailRetryOfASupersededMessageKeepsTheNewerLink(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	for _, b := range backends() {
		if b.name != "sqlite-sql" && b.name != "mysql-redis" && b.name != "postgres-sql" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			r := failReset(t, mp, b)
			r.c.do("POST", "/api/auth/password/forgot", map[string]string{"email": r.a.Email}).expect(http.StatusAccepted)
			_, token := mailLink(t, waitMail(t, mp, r.a.Email, "the newer password reset mail", linkTo("/reset-password")))
			waitOutbox(t, r.outbox, func(m domain.OutboxMail) bool {
				return r.isReset(m) && m.ID != r.failed && m.Status == domain.MailSent
			})

			if err := r.mails.Retry(t.Context(), application.Operator, r.failed); err != nil {
				t.Fatalf("retry: %v", err)
			}
			waitOutbox(t, r.outbox, func(m domain.OutboxMail) bool { return m.ID == r.failed && m.Status != domain.MailPending })
			if m := r.message(t, r.failed); m.Status != domain.MailDropped || !strings.Contains(m.LastError, "superseded") {
				t.Fatalf("the retried older reset mail ended %s (%q), want it dropped as superseded", m.Status, m.LastError)
			}
			resets := slices.DeleteFunc(mp.Messages(r.a.Email), func(m testenv.MailpitMessage) bool { return !linkTo("/reset-password")(m) })
			if len(resets) != 1 {
				t.Fatalf("%d reset mails in the mailbox, want only the newer one", len(resets))
			}
			const newPassword = "a passphrase from the newer mail"
			r.c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": newPassword}).
				expect(http.StatusNoContent)
			r.a.Password = newPassword
			r.c.login(t, r.a)
		})
	}
}
