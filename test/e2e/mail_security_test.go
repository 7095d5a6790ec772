package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// SECURITY G48–G53: the e-mail token flows, against a real SMTP server.

// sameProblem fails unless a and b are the same problem document but for the request id.
func sameProblem(t *testing.T, what string, a, b *resp) {
	t.Helper()
	var pa, pb problem
	a.decode(&pa)
	b.decode(&pb)
	pa.RequestID, pb.RequestID = "", ""
	ja, _ := json.Marshal(pa)
	jb, _ := json.Marshal(pb)
	if a.Status != b.Status || string(ja) != string(jb) {
		t.Fatalf("%s: %d %s, want the same as %d %s", what, b.Status, jb, a.Status, ja)
	}
}

// headerNames lists the response header names but those that differ per request.
func headerNames(h http.Header) []string {
	var out []string
	for k := range h {
		if k != "X-Request-Id" && k != "Date" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestG48_ForgotSameAnswerKnownOrUnknown(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	var outbox ports.MailOutbox
	s := startServerWith(t, mailEnvFor(mp, nil), fx.Populate(&outbox))
	c := s.apiClient()
	a := c.register(t)
	mp.WaitMessages(a.Email, 1, mailWait)
	before, _ := outbox.List(t.Context(), domain.OutboxQuery{})

	unknown := "nobody-" + randHex(4) + "@example.com"
	known := c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	none := c.do("POST", "/api/auth/password/forgot", map[string]string{"email": unknown}).expect(http.StatusAccepted)
	if string(known.Body) != string(none.Body) || !slices.Equal(headerNames(known.Header), headerNames(none.Header)) {
		t.Fatalf("known: %s %v\nunknown: %s %v", known.Body, headerNames(known.Header), none.Body, headerNames(none.Header))
	}
	// The same work in the request: one outbox row each, whoever owns the address; the account
	// is looked up later by the worker, which drops the unknown one.
	after, _ := outbox.List(t.Context(), domain.OutboxQuery{})
	if len(after)-len(before) != 2 {
		t.Fatalf("the two requests queued %d messages, want one each", len(after)-len(before))
	}
	mp.WaitMessages(a.Email, 2, mailWait)
	waitOutbox(t, outbox, func(m domain.OutboxMail) bool { return m.To == unknown && m.Status == domain.MailDropped })
	if got := mp.Messages(unknown); len(got) != 0 {
		t.Fatalf("a mail went to an address without an account: %q", got[0].Subject)
	}

	// Neither waits on SMTP: with the server down both still answer 202 at once, alike.
	mp.Stop()
	known = c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	none = c.do("POST", "/api/auth/password/forgot", map[string]string{"email": unknown}).expect(http.StatusAccepted)
	if string(known.Body) != string(none.Body) {
		t.Fatalf("with SMTP down: %s vs %s", known.Body, none.Body)
	}
	// Timing, for the record (logged, not asserted, and measured nowhere else): both requests do
	// the same rate-limit checks and one insert, as the outbox count above shows.
	var tk, tu []time.Duration
	for i := range 40 {
		for _, e := range []string{a.Email, unknown} {
			start := time.Now()
			c.do("POST", "/api/auth/password/forgot", map[string]string{"email": e}).expect(http.StatusAccepted)
			if e == unknown {
				tu = append(tu, time.Since(start))
			} else {
				tk = append(tk, time.Since(start))
			}
		}
		_ = i
	}
	slices.Sort(tk)
	slices.Sort(tu)
	t.Logf("forgot median: known %v, unknown %v", tk[len(tk)/2], tu[len(tu)/2])
}

// waitOutbox waits until some outbox message satisfies ok.
func waitOutbox(t *testing.T, outbox ports.MailOutbox, ok func(domain.OutboxMail) bool) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for time.Now().Before(deadline) {
		list, err := outbox.List(t.Context(), domain.OutboxQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(list, ok) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the outbox never held the message waited for")
}

func TestG49_LinksIgnoreForgedHost(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, map[string]string{"PORTCULLIS_TRUSTED_PROXIES": "127.0.0.1"})
	c := s.apiClient()
	forged := []string{"Host", "evil.example", "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "http",
		"Forwarded", "host=evil.example;proto=http"}
	id := randHex(4)
	email := "host-" + id + "@example.com"
	c.do("POST", "/api/auth/register", map[string]string{"email": email, "password": goodPassword}, forged...).expect(http.StatusCreated)
	// One mail per address per PORTCULLIS_MAIL_ADDRESS_INTERVAL (1 ms here): a reset asked for
	// less than that after the registration's verification mail is accepted and not sent, so
	// the reset is asked for once the verification mail has arrived.
	mp.WaitMessages(email, 1, mailWait)
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": email}, forged...).expect(http.StatusAccepted)
	for _, m := range mp.WaitMessages(email, 2, mailWait) {
		if strings.Contains(m.Text+m.HTML, "evil.example") {
			t.Fatalf("%q carries the forged host:\n%s", m.Subject, m.Text)
		}
		mailLink(t, m) // fails unless the link starts with PORTCULLIS_PUBLIC_URL
	}
}

func TestG50_BadTokensSameAnswer(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, map[string]string{"PORTCULLIS_RESET_PASSWORD_TTL": "2s"})
	c := s.apiClient()
	a := c.register(t)
	_, verify := mailLink(t, mp.WaitMessages(a.Email, 1, mailWait)[0])
	reset := func(token string) *resp {
		return c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": "an attacker's choice"})
	}
	unknown := reset(randHex(32)).expect(http.StatusBadRequest)
	if !strings.Contains(string(unknown.Body), `"code":"invalid_token"`) {
		t.Fatalf("unknown token: %s", unknown.Body)
	}
	// Other purpose: the verification token at the reset and e-mail routes (it stays usable).
	sameProblem(t, "verify token at reset", unknown, reset(verify))
	sameProblem(t, "verify token at email confirm", unknown, c.do("POST", "/api/auth/email/confirm", map[string]string{"token": verify}))
	// Reused.
	c.do("POST", "/api/auth/verify-email", map[string]string{"token": verify}).expect(http.StatusNoContent)
	sameProblem(t, "reused verify token", unknown, c.do("POST", "/api/auth/verify-email", map[string]string{"token": verify}))
	// Superseded: a newer reset link spends the older one.
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, older := mailLink(t, waitMail(t, mp, a.Email, "password reset mail", linkTo("/reset-password")))
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, newer := mailLink(t, waitMail(t, mp, a.Email, "second password reset mail", func(m testenv.MailpitMessage) bool {
		return linkTo("/reset-password")(m) && !strings.Contains(m.Text, "token="+older)
	}))
	sameProblem(t, "superseded reset token", unknown, reset(older))
	// Expired (the reset lifetime is 2 s here).
	time.Sleep(2100 * time.Millisecond)
	sameProblem(t, "expired reset token", unknown, reset(newer))
	// None of it changed anything.
	c.login(t, a)
}

func TestG51_ConcurrentResetsOneToken(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, nil)
	c := s.apiClient()
	a := c.register(t)
	mp.WaitMessages(a.Email, 1, mailWait) // the reset is asked for after the address interval (see G49)
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, token := mailLink(t, resetMail(t, mp.WaitMessages(a.Email, 2, mailWait)))
	const n = 8
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := c.try("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": "racer number " + string(rune('a'+i)) + " wins"})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	winner := -1
	for i, st := range statuses {
		switch {
		case st == http.StatusNoContent && winner < 0:
			winner = i
		case st == http.StatusNoContent:
			t.Fatalf("two resets succeeded with one token: %v", statuses)
		case st != http.StatusBadRequest:
			t.Fatalf("a losing reset answered %d: %v", st, statuses)
		}
	}
	if winner < 0 {
		t.Fatalf("no reset succeeded: %v", statuses)
	}
	a.Password = "racer number " + string(rune('a'+winner)) + " wins"
	c.login(t, a)
}

func TestG52_ResetRevokesSessionsNoLoginNotice(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	s := mailServer(t, mp, nil)
	c := s.client()
	a := c.register(t)
	one, two := c.login(t, a), s.apiClient().login(t, a)
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	_, token := mailLink(t, resetMail(t, mp.WaitMessages(a.Email, 2, mailWait)))
	r := c.do("POST", "/api/auth/password/reset", map[string]string{"token": token, "new_password": "after the reset"}).
		expect(http.StatusNoContent)
	if len(r.Body) != 0 || len(r.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("the reset logged someone in: body %q, cookies %v", r.Body, r.Header.Values("Set-Cookie"))
	}
	for _, tk := range []tokens{one, two} {
		if st := c.meStatus(tk.AccessToken); st != http.StatusUnauthorized {
			t.Fatalf("a session survived the reset: /me %d", st)
		}
		s.apiClient().refresh(tk.RefreshToken).expect(http.StatusUnauthorized)
	}
	notice := waitMail(t, mp, a.Email, "reset notice", subjectHas("was reset"))
	if !strings.Contains(notice.Subject, "was reset") || strings.Contains(notice.Text, "token=") {
		t.Fatalf("the notice: %q\n%s", notice.Subject, notice.Text)
	}
}

func TestG53_MailCappedAndTokenGuessingThrottled(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	var outbox ports.MailOutbox
	s := startServerWith(t, mailEnvFor(mp, map[string]string{
		"PORTCULLIS_MAIL_ADDRESS_INTERVAL": "1m", "PORTCULLIS_RATE_TOKEN_GUESS_IP": "3/10m",
	}), fx.Populate(&outbox))
	c := s.apiClient()
	email := "capped-" + randHex(4) + "@example.com"
	c.do("POST", "/api/auth/register", map[string]string{"email": email, "password": goodPassword}).expect(http.StatusCreated)
	first := c.do("POST", "/api/auth/password/forgot", map[string]string{"email": email}).expect(http.StatusAccepted)
	for range 3 {
		again := c.do("POST", "/api/auth/password/forgot", map[string]string{"email": email}).expect(http.StatusAccepted)
		if string(again.Body) != string(first.Body) {
			t.Fatalf("a capped request answers differently: %s vs %s", again.Body, first.Body)
		}
		c.do("POST", "/api/auth/verify-email/resend", map[string]string{"email": email}).expect(http.StatusAccepted)
	}
	// A marker mail to another address, queued after all of them, shows the worker has passed them.
	marker := "marker-" + randHex(4) + "@example.com"
	c.do("POST", "/api/auth/password/forgot", map[string]string{"email": marker}).expect(http.StatusAccepted)
	waitOutbox(t, outbox, func(m domain.OutboxMail) bool { return m.To == marker && m.Status != domain.MailPending })
	if got := mp.WaitMessages(email, 1, mailWait); len(got) != 1 {
		t.Fatalf("%d mails to one address within a minute, want 1 (the verification)", len(got))
	}
	list, _ := outbox.List(t.Context(), domain.OutboxQuery{})
	queued := 0
	for _, m := range list {
		if m.To == email {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("%d messages queued to the capped address, want 1", queued)
	}

	// Guessing tokens: the fourth bad token from one client is 429 with Retry-After, on the JSON
	// route and on the link page.
	for i := range 3 {
		c.do("POST", "/api/auth/verify-email", map[string]string{"token": randHex(32)}).expect(http.StatusBadRequest)
		_ = i
	}
	r := c.do("POST", "/api/auth/password/reset", map[string]string{"token": randHex(32), "new_password": "whatever it is"}).
		expect(http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Body), `"code":"too_many_requests"`) {
		t.Fatalf("429 without Retry-After or code: %v %s", r.Header, r.Body)
	}
	page := c.do("POST", "/verify-email", url.Values{"token": {randHex(32)}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if page.Status != http.StatusTooManyRequests || page.Header.Get("Retry-After") == "" || !strings.Contains(string(page.Body), `data-outcome="throttled"`) {
		t.Fatalf("link page while throttled: %d %v\n%s", page.Status, page.Header, page.Body)
	}
}
