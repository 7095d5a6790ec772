package fault

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// Delivery without loss, against the real binary and a real SMTP server (Mailpit): an SMTP
// outage during the requests, a kill -9 between request and delivery, and two instances
// draining one outbox. Each test counts, per address, the mails that arrived: lost (fewer than
// asked for) and duplicates (more, or a Message-ID twice) must both be 0.

// mailAddressInterval is the per-address mail interval the tests run with
// (PORTCULLIS_MAIL_ADDRESS_INTERVAL): the shortest there is. It still holds back a second mail
// to an address asked for within it, so askMail waits it out between an address's two mails.
const mailAddressInterval = time.Millisecond

// mailEnv is the settings of a binary delivering to mp quickly: short polls, retries and
// leases, the shortest per-address interval and no per-client limits (the tests send a lot from
// one client address).
func mailEnv(mp *testenv.Mailpit) []string {
	return []string{
		"PORTCULLIS_SMTP_URL=smtp://" + mp.SMTPAddr + "?starttls=none",
		"PORTCULLIS_PUBLIC_URL=https://auth.example.test",
		"PORTCULLIS_MAIL_POLL_INTERVAL=100ms", "PORTCULLIS_MAIL_RETRY_BASE=200ms", "PORTCULLIS_MAIL_RETRY_MAX=1s",
		"PORTCULLIS_MAIL_SEND_TIMEOUT=2s", "PORTCULLIS_MAIL_MAX_ATTEMPTS=100", "PORTCULLIS_MAIL_ADDRESS_INTERVAL=" + mailAddressInterval.String(),
		"PORTCULLIS_RATE_REGISTER_IP=100000/1h", "PORTCULLIS_RATE_MAIL_IP=100000/1h",
		"PORTCULLIS_KEY_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
}

// askMail registers each address (a verification mail) and asks for a password reset (a reset
// mail) at the instance bases[i % len(bases)], checking each answer, and returns the slowest.
// Between the two it waits out the per-address interval: a reset asked for within it of the
// verification mail is, by design, accepted and not sent (on a quiet machine the next request
// can come well within a millisecond).
func askMail(t *testing.T, bases []string, emails []string) time.Duration {
	t.Helper()
	var slowest time.Duration
	for i, e := range emails {
		base := bases[i%len(bases)]
		start := time.Now()
		if r := call(t, "POST", base+"/api/auth/register", map[string]string{"email": e, "password": "correct horse battery staple"}); r.status != http.StatusCreated {
			t.Fatalf("register %s: %d %s", e, r.status, r.body)
		}
		time.Sleep(2 * mailAddressInterval)
		if r := call(t, "POST", base+"/api/auth/password/forgot", map[string]string{"email": e}); r.status != http.StatusAccepted {
			t.Fatalf("forgot %s: %d %s", e, r.status, r.body)
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest
}

// countMail waits until every address has want mails (or 3 minutes pass), then a little more
// for stragglers, and returns how many were lost and duplicated. It waits for each address, not
// for a total: a duplicate to one address must not end the wait while another's mail is still
// being retried (that mail would be counted lost). The wait ends as soon as all have arrived;
// its bound is only for a mail that never comes, and is long because a loaded machine (load 20
// on 2 cores) makes every SMTP attempt and retry slow.
func countMail(t *testing.T, mp *testenv.Mailpit, emails []string, want int) (lost, dups int) {
	t.Helper()
	tally := func() (map[string]int, []string) {
		per := map[string]int{}
		var ids []string
		for _, m := range mp.Messages("") {
			per[strings.ToLower(m.To[0].Address)]++
			ids = append(ids, m.MessageID)
		}
		return per, ids
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		per, _ := tally()
		if !slices.ContainsFunc(emails, func(e string) bool { return per[e] < want }) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a duplicate would be sent by now
	per, ids := tally()
	for _, e := range emails {
		switch n := per[e]; {
		case n < want:
			lost += want - n
		case n > want:
			dups += n - want
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != len(ids) {
		dups += len(ids) - len(slices.Compact(slices.Clone(ids)))
	}
	return lost, dups
}

func addresses(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d-%d@example.com", prefix, time.Now().UnixNano()%1e6, i)
	}
	return out
}

func TestMailSurvivesSMTPOutage(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	mp.Stop()
	s := start(t, testenv.FreeAddr(t), append(mailEnv(mp), "PORTCULLIS_DATA_DIR="+t.TempDir()))
	emails := addresses("outage", 20)
	slowest := askMail(t, []string{s.base}, emails)
	time.Sleep(time.Second) // attempts fail meanwhile, and are retried
	mp.Start()
	lost, dups := countMail(t, mp, emails, 2)
	t.Logf("SMTP outage: %d mails asked for, lost %d, duplicated %d; slowest request pair while SMTP was down %v",
		2*len(emails), lost, dups, slowest)
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d", lost, dups)
	}
}

func TestMailSurvivesKill9(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	mp.Stop()
	dir := t.TempDir()
	env := append(mailEnv(mp), "PORTCULLIS_DATA_DIR="+dir)
	addr := testenv.RestartableAddr(t)
	s := start(t, addr, env)
	emails := addresses("kill9", 15)
	askMail(t, []string{s.base}, emails)
	s.kill() // SIGKILL: no drain; whatever was claimed stays leased until the lease ends
	mp.Start()
	start(t, addr, env)
	lost, dups := countMail(t, mp, emails, 2)
	t.Logf("kill -9 between request and delivery: %d mails asked for, lost %d, duplicated %d", 2*len(emails), lost, dups)
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d", lost, dups)
	}
}

func TestMailTwoInstancesSendOnce(t *testing.T) {
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	env := append(mailEnv(mp), "PORTCULLIS_DATA_DIR="+t.TempDir(), "PORTCULLIS_DATABASE_URL="+testenv.MySQLURL(t))
	a := start(t, testenv.FreeAddr(t), env)
	b := start(t, testenv.FreeAddr(t), env)
	emails := addresses("twice", 40)
	var wg sync.WaitGroup
	for i, part := range [][]string{emails[:20], emails[20:]} {
		wg.Go(func() { askMail(t, []string{a.base, b.base}[i:], part) })
	}
	wg.Wait()
	lost, dups := countMail(t, mp, emails, 2)
	t.Logf("two instances over one MariaDB outbox: %d mails asked for, lost %d, duplicated %d", 2*len(emails), lost, dups)
	if lost != 0 || dups != 0 {
		t.Fatalf("lost %d, duplicated %d", lost, dups)
	}
}
