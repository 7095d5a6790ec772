package e2e

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestBrowserLinkPages opens each e-mailed link (read back from a real SMTP server, Mailpit) in
// Chromium exactly as it is in the message, checks the page alone changed nothing, presses its
// button as a person would, and checks the outcome on the page and through the API. Portcullis
// answers at its public URL, http://auth.portcullis.test:<port>, which the browser resolves to
// loopback. Screenshots of each page before and after go to the test's artifact directory.
func TestBrowserLinkPages(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	public := "http://auth.portcullis.test:" + port
	s := mailServer(t, mp, map[string]string{"PORTCULLIS_ADDR": addr, "PORTCULLIS_PUBLIC_URL": public})
	api := s.apiClient()
	links := regexp.MustCompile(regexp.QuoteMeta(public) + `/[a-z-]+\?token=[A-Za-z0-9_-]+`)
	link := func(msg testenv.MailpitMessage, path string) string {
		t.Helper()
		l := links.FindString(msg.Text)
		if l == "" || l[len(public):len(public)+len(path)] != path {
			t.Fatalf("no %s%s link in %q:\n%s", public, path, msg.Subject, msg.Text)
		}
		return l
	}
	b := testenv.NewBrowser(t)
	tab := b.Tab(t)
	// open loads a link and checks the page shows its form and no outcome yet.
	open := func(url, form, shot string) {
		t.Helper()
		tab.Do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID(form)))
		if n := testenv.Eval[int](tab, `document.querySelectorAll("#result").length`); n != 0 {
			t.Fatalf("%s shows an outcome before its button is pressed", url)
		}
		tab.Screenshot(shot)
	}
	// press clicks a page's button and returns the outcome the page then shows.
	press := func(button, shot string) string {
		t.Helper()
		status := tab.Follow(button)
		tab.Screenshot(shot)
		if status != http.StatusOK {
			t.Errorf("pressing #%s: %d", button, status)
		}
		return testenv.Eval[string](tab, `document.getElementById("result").dataset.outcome + ": " + document.getElementById("result").textContent`)
	}

	a := api.register(t)
	tk := api.login(t, a)

	verify := link(mp.WaitMessages(a.Email, 1, mailWait)[0], "/verify-email")
	open(verify, "verify-email-form", "link-1-verify-page")
	tab.Do(chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("verify-email-form"))) // a second visit spends nothing either
	if api.me(t, tk.AccessToken).EmailVerified {
		t.Fatal("opening the verification page verified the address")
	}
	outcome := press("verify-email-submit", "link-2-verified")
	t.Logf("verify page: %s", outcome)
	if !api.me(t, tk.AccessToken).EmailVerified || !strings.HasPrefix(outcome, "verified:") {
		t.Fatalf("after pressing the button: page %q, verified %v", outcome, api.me(t, tk.AccessToken).EmailVerified)
	}

	api.do("POST", "/api/auth/password/forgot", map[string]string{"email": a.Email}).expect(http.StatusAccepted)
	reset := link(waitMail(t, mp, a.Email, "password reset mail", linkTo("/reset-password")), "/reset-password")
	open(reset, "reset-password-form", "link-3-reset-page")
	if st := api.meStatus(tk.AccessToken); st != http.StatusOK {
		t.Fatalf("opening the reset page ended the session: %d", st)
	}
	const newPassword = "a passphrase set in the browser"
	tab.Do(
		chromedp.SendKeys(chromedp.ID("new-password"), newPassword),
		chromedp.SendKeys(chromedp.ID("new-password-confirm"), newPassword),
	)
	outcome = press("reset-password-submit", "link-4-password-reset")
	t.Logf("reset page: %s", outcome)
	if !strings.HasPrefix(outcome, "password_reset:") {
		t.Errorf("reset page outcome %q", outcome)
	}
	if st := api.meStatus(tk.AccessToken); st != http.StatusUnauthorized {
		t.Errorf("a session survived the reset: %d", st)
	}
	api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": a.Password}).expect(http.StatusUnauthorized)
	a.Password = newPassword
	tk = api.login(t, a)

	newEmail := "browser-" + randHex(4) + "@example.org"
	api.do("POST", "/api/users/me/email", map[string]string{"new_email": newEmail, "password": a.Password}, bearer(tk.AccessToken)...).
		expect(http.StatusAccepted)
	confirm := link(mp.WaitMessages(newEmail, 1, mailWait)[0], "/confirm-email")
	open(confirm, "confirm-email-form", "link-5-confirm-page")
	if got := api.me(t, tk.AccessToken).Email; got != a.Email {
		t.Fatalf("opening the confirmation page changed the address to %s", got)
	}
	outcome = press("confirm-email-submit", "link-6-email-changed")
	t.Logf("confirm page: %s", outcome)
	if u := api.me(t, tk.AccessToken); u.Email != newEmail || !u.EmailVerified || !strings.HasPrefix(outcome, "email_changed:") {
		t.Fatalf("after pressing the button: page %q, user %+v", outcome, u)
	}
}
