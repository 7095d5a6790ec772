package contract

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// MailOutbox runs the ports.MailOutbox contract. open must return an empty outbox and the
// one-time-token store its Prepare writes into, for each subtest.
func MailOutbox(t *testing.T, open func(t *testing.T) (ports.MailOutbox, ports.OneTimeTokens)) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens)
	}{
		{"ClaimOldestFirstOnce", outboxClaimOnce},
		{"SettleSentWipesLink", outboxSettleSent},
		{"LeaseRunsOut", outboxLeaseRunsOut},
		{"RetryLaterNotBefore", outboxRetryLater},
		{"PrepareWritesTokenWithLink", outboxPrepare},
		{"PrepareWithoutLeaseWritesNothing", outboxPrepareStale},
		{"PrepareAgainSupersedesTheLink", outboxPrepareAgain},
		{"PrepareRefusedForAnOlderMessage", outboxPrepareSuperseded},
		{"PrepareNotHeldBackByOthers", outboxPrepareNotSuperseded},
		{"SupersededByPrepareRule", outboxSuperseded},
		{"FailedRetriedByOperator", outboxFailedRetry},
		{"RetryUnpreparesTheMessage", outboxRetryUnprepares},
		{"PurgeKeepsFailed", outboxPurge},
		{"CancelDropsTheAccountsUnsentMessagesOfAKind", outboxCancel},
		{"ConcurrentClaimsNeverShare", outboxConcurrentClaims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, tokens := open(t)
			c.run(t, o, tokens)
		})
	}
}

// outboxMail is a pending message created at at; ids sort in creation order.
func outboxMail(at time.Time, kind domain.MailKind) domain.OutboxMail {
	return domain.OutboxMail{ID: uuid.Must(uuid.NewV7()).String(), Kind: kind, To: "ada-" + uuid.NewString()[:8] + "@example.com",
		UserID: uuid.NewString(), Name: "Ada", Status: domain.MailPending, CreatedAt: at, NextAttemptAt: at, UpdatedAt: at}
}

func mustEnqueue(t *testing.T, o ports.MailOutbox, mails ...domain.OutboxMail) {
	t.Helper()
	if err := o.Enqueue(t.Context(), mails...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func mustClaim(t *testing.T, o ports.MailOutbox, owner string, at time.Time, lease time.Duration, limit int) []domain.OutboxMail {
	t.Helper()
	got, err := o.Claim(t.Context(), owner, at, lease, limit)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return got
}

func mailIDs(mails []domain.OutboxMail) []string {
	out := make([]string, len(mails))
	for i, m := range mails {
		out[i] = m.ID
	}
	return out
}

// mustPrepare enqueues a message of kind created at at, claims it for "w1" and prepares it with
// link and a new token of purpose, which it returns with the message.
func mustPrepare(t *testing.T, o ports.MailOutbox, kind domain.MailKind, purpose domain.TokenPurpose, at time.Time, link string) (domain.OutboxMail, domain.OneTimeToken) {
	t.Helper()
	m := outboxMail(at, kind)
	mustEnqueue(t, o, m)
	mustClaim(t, o, "w1", at, time.Minute, 1)
	tok := newToken(m.UserID, purpose, at)
	m.Link, m.LinkExpiresAt = link, tok.ExpiresAt
	if err := o.Prepare(t.Context(), "w1", m, tok); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	return m, tok
}

func outboxClaimOnce(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	a, b, c := outboxMail(at, domain.MailVerifyEmail), outboxMail(at.Add(time.Millisecond), domain.MailResetPassword),
		outboxMail(at.Add(2*time.Millisecond), domain.MailPasswordChanged)
	mustEnqueue(t, o, c, a, b)
	first := mustClaim(t, o, "w1", at.Add(time.Second), time.Minute, 2)
	if fmt.Sprint(mailIDs(first)) != fmt.Sprint([]string{a.ID, b.ID}) {
		t.Fatalf("first claim = %v, want the two oldest %v", mailIDs(first), []string{a.ID, b.ID})
	}
	if first[0].Attempts != 1 || first[0].To != a.To || first[0].Kind != a.Kind || first[0].UserID != a.UserID || first[0].Name != "Ada" {
		t.Fatalf("claimed %+v, want %+v with one attempt", first[0], a)
	}
	second := mustClaim(t, o, "w2", at.Add(time.Second), time.Minute, 5)
	if fmt.Sprint(mailIDs(second)) != fmt.Sprint([]string{c.ID}) {
		t.Fatalf("second claim = %v, want only %s", mailIDs(second), c.ID)
	}
	if rest := mustClaim(t, o, "w3", at.Add(2*time.Second), time.Minute, 5); len(rest) != 0 {
		t.Fatalf("a third claim took leased messages %v", mailIDs(rest))
	}
	if early := mustClaim(t, o, "w4", at.Add(-time.Hour), time.Minute, 5); len(early) != 0 {
		t.Fatalf("messages not yet due were claimed: %v", mailIDs(early))
	}
}

func outboxSettleSent(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	m, _ := mustPrepare(t, o, domain.MailVerifyEmail, domain.PurposeVerifyEmail, at, "https://auth.example.com/verify-email?token=secret")
	if err := o.Settle(t.Context(), m.ID, "w2", domain.MailSettlement{Status: domain.MailSent, At: at}); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("Settle by a worker without the lease = %v, want ErrStale", err)
	}
	if err := o.Settle(t.Context(), m.ID, "w1", domain.MailSettlement{Status: domain.MailSent, At: at.Add(time.Second)}); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	list, err := o.List(t.Context(), domain.OutboxQuery{Status: domain.MailSent})
	if err != nil || len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("List(sent) = %v, %v", mailIDs(list), err)
	}
	if list[0].Link != "" || !list[0].LinkExpiresAt.IsZero() || !list[0].Prepared || list[0].Status != domain.MailSent {
		t.Fatalf("a sent message keeps its link or lost its state: %+v", list[0])
	}
	if err := o.Settle(t.Context(), m.ID, "w1", domain.MailSettlement{Status: domain.MailSent, At: at}); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("settling a settled message = %v, want ErrStale", err)
	}
	if again := mustClaim(t, o, "w3", at.Add(time.Hour), time.Minute, 5); len(again) != 0 {
		t.Fatalf("a sent message was claimed again")
	}
}

func outboxLeaseRunsOut(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	m := outboxMail(at, domain.MailPasswordReset)
	mustEnqueue(t, o, m)
	mustClaim(t, o, "dead", at, time.Minute, 1)
	if got := mustClaim(t, o, "w2", at.Add(30*time.Second), time.Minute, 1); len(got) != 0 {
		t.Fatalf("a leased message was claimed before its lease ended")
	}
	got := mustClaim(t, o, "w2", at.Add(61*time.Second), time.Minute, 1)
	if len(got) != 1 || got[0].ID != m.ID || got[0].Attempts != 2 {
		t.Fatalf("after the lease ended: claimed %+v, want %s with 2 attempts", got, m.ID)
	}
	if err := o.Settle(t.Context(), m.ID, "dead", domain.MailSettlement{Status: domain.MailSent, At: at}); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("the old owner settled a message it lost: %v", err)
	}
	if err := o.Settle(t.Context(), m.ID, "w2", domain.MailSettlement{Status: domain.MailSent, At: at}); err != nil {
		t.Fatalf("Settle by the new owner: %v", err)
	}
}

func outboxRetryLater(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	m := outboxMail(at, domain.MailPasswordChanged)
	mustEnqueue(t, o, m)
	mustClaim(t, o, "w1", at, time.Minute, 1)
	s := domain.MailSettlement{Status: domain.MailPending, NextAttemptAt: at.Add(10 * time.Minute), LastError: "smtp: dial failed", At: at}
	if err := o.Settle(t.Context(), m.ID, "w1", s); err != nil {
		t.Fatalf("Settle(pending): %v", err)
	}
	if got := mustClaim(t, o, "w2", at.Add(9*time.Minute), time.Minute, 1); len(got) != 0 {
		t.Fatalf("claimed before its next attempt")
	}
	got := mustClaim(t, o, "w2", at.Add(11*time.Minute), time.Minute, 1)
	if len(got) != 1 || got[0].LastError != "smtp: dial failed" || got[0].Attempts != 2 {
		t.Fatalf("retry claim = %+v", got)
	}
}

func outboxPrepare(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	m := outboxMail(at, domain.MailConfirmEmailChange)
	m.UserID = ""
	mustEnqueue(t, o, m)
	mustClaim(t, o, "w1", at, time.Minute, 1)
	tok := newToken(uuid.NewString(), domain.PurposeChangeEmail, at)
	tok.NewEmail = "new@example.com"
	m.UserID, m.Name, m.Link, m.LinkExpiresAt = tok.UserID, "Ada Lovelace", "https://auth.example.com/confirm-email?token=t", tok.ExpiresAt
	if err := o.Prepare(t.Context(), "w1", m, tok); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	got, err := tokens.Consume(t.Context(), tok.Hash, domain.PurposeChangeEmail, at)
	if err != nil || got.NewEmail != "new@example.com" || got.UserID != tok.UserID {
		t.Fatalf("the prepared token: %+v, %v", got, err)
	}
	list, err := o.List(t.Context(), domain.OutboxQuery{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", mailIDs(list), err)
	}
	if p := list[0]; !p.Prepared || p.Link != m.Link || !sameInstant(p.LinkExpiresAt, tok.ExpiresAt) || p.Name != "Ada Lovelace" || p.UserID != tok.UserID {
		t.Fatalf("prepared message = %+v", p)
	}
}

func outboxPrepareStale(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	m := outboxMail(at, domain.MailResetPassword)
	mustEnqueue(t, o, m)
	mustClaim(t, o, "w1", at, time.Minute, 1)
	tok := newToken(m.UserID, domain.PurposeResetPassword, at)
	m.Link = "https://auth.example.com/reset-password?token=t"
	if err := o.Prepare(t.Context(), "w2", m, tok); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("Prepare without the lease = %v, want ErrStale", err)
	}
	mustNotConsume(t, tokens, tok.Hash, domain.PurposeResetPassword, at)
}

// outboxPrepareAgain: a later attempt may prepare a message again (its link had too little
// time left); the new token supersedes the one of the earlier link, and the message carries the
// new link and expiry.
func outboxPrepareAgain(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	m, first := mustPrepare(t, o, domain.MailResetPassword, domain.PurposeResetPassword, at, "https://auth.example.com/reset-password?token=first")
	retry := domain.MailSettlement{Status: domain.MailPending, NextAttemptAt: at.Add(20 * time.Minute), LastError: "smtp: dial failed", At: at}
	if err := o.Settle(t.Context(), m.ID, "w1", retry); err != nil {
		t.Fatalf("Settle(pending): %v", err)
	}
	later := at.Add(20 * time.Minute)
	got := mustClaim(t, o, "w2", later, time.Minute, 1)
	if len(got) != 1 || got[0].Link != m.Link || !sameInstant(got[0].LinkExpiresAt, first.ExpiresAt) {
		t.Fatalf("the retry claim = %+v, want the message with its link and expiry", got)
	}
	second := newToken(m.UserID, domain.PurposeResetPassword, later)
	m.Link, m.LinkExpiresAt = "https://auth.example.com/reset-password?token=second", second.ExpiresAt
	if err := o.Prepare(t.Context(), "w2", m, second); err != nil {
		t.Fatalf("Prepare again: %v", err)
	}
	mustNotConsume(t, tokens, first.Hash, domain.PurposeResetPassword, later)
	list, err := o.List(t.Context(), domain.OutboxQuery{})
	if err != nil || len(list) != 1 || list[0].Link != m.Link || !sameInstant(list[0].LinkExpiresAt, second.ExpiresAt) {
		t.Fatalf("after preparing again: %+v, %v; want the second link", list, err)
	}
	if _, err := tokens.Consume(t.Context(), second.Hash, domain.PurposeResetPassword, later); err != nil {
		t.Fatalf("the second token: %v", err)
	}
}

func outboxFailedRetry(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	m := outboxMail(at, domain.MailPasswordReset)
	mustEnqueue(t, o, m)
	if err := o.Retry(t.Context(), m.ID, at); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Retry of a pending message = %v, want ErrNotFound", err)
	}
	mustClaim(t, o, "w1", at, time.Minute, 1)
	if err := o.Settle(t.Context(), m.ID, "w1", domain.MailSettlement{Status: domain.MailFailed, LastError: "550 no such user", At: at}); err != nil {
		t.Fatal(err)
	}
	failed, err := o.List(t.Context(), domain.OutboxQuery{Status: domain.MailFailed})
	if err != nil || len(failed) != 1 || failed[0].LastError != "550 no such user" {
		t.Fatalf("List(failed) = %+v, %v", failed, err)
	}
	if got := mustClaim(t, o, "w2", at.Add(time.Hour), time.Minute, 1); len(got) != 0 {
		t.Fatalf("a failed message was claimed")
	}
	if err := o.Retry(t.Context(), m.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	got := mustClaim(t, o, "w2", at.Add(time.Hour), time.Minute, 1)
	if len(got) != 1 || got[0].Attempts != 1 {
		t.Fatalf("after Retry: claimed %+v, want it with its attempts counted afresh", got)
	}
	if err := o.Retry(t.Context(), uuid.NewString(), at); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Retry of an unknown id = %v, want ErrNotFound", err)
	}
}

func outboxPurge(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	sent, failed, pending := outboxMail(at, domain.MailPasswordReset), outboxMail(at, domain.MailPasswordReset), outboxMail(at, domain.MailPasswordReset)
	mustEnqueue(t, o, sent, failed, pending)
	mustClaim(t, o, "w1", at, time.Minute, 2)
	for id, st := range map[string]domain.MailStatus{sent.ID: domain.MailSent, failed.ID: domain.MailFailed} {
		if err := o.Settle(t.Context(), id, "w1", domain.MailSettlement{Status: st, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := o.Purge(t.Context(), at.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 (the sent one)", n, err)
	}
	list, _ := o.List(t.Context(), domain.OutboxQuery{})
	if len(list) != 2 {
		t.Fatalf("after Purge: %v, want the failed and the pending message", mailIDs(list))
	}
}

func outboxConcurrentClaims(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	const total = 60
	for i := range total {
		mustEnqueue(t, o, outboxMail(at.Add(time.Duration(i)*time.Microsecond), domain.MailVerifyEmail))
	}
	var (
		mu   sync.Mutex
		seen = map[string]string{}
		wg   sync.WaitGroup
	)
	for w := range 6 {
		owner := fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			for {
				got, err := o.Claim(t.Context(), owner, at.Add(time.Second), time.Minute, 4)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					if prev, dup := seen[m.ID]; dup {
						t.Errorf("message %s claimed by %s and %s", m.ID, prev, owner)
					}
					seen[m.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), total)
	}
}

// outboxRetryUnprepares: a failed message lost its link when it was settled, so Retry gives it
// back unprepared, for the worker to make a fresh token and link; what the worker learnt of the
// account (its id, the name) stays.
func outboxRetryUnprepares(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	m, _ := mustPrepare(t, o, domain.MailResetPassword, domain.PurposeResetPassword, at, "https://auth.example.com/reset-password?token=t")
	if err := o.Settle(t.Context(), m.ID, "w1", domain.MailSettlement{Status: domain.MailFailed, LastError: "smtp: dial failed", At: at}); err != nil {
		t.Fatal(err)
	}
	failed, err := o.List(t.Context(), domain.OutboxQuery{Status: domain.MailFailed})
	if err != nil || len(failed) != 1 || failed[0].Link != "" || !failed[0].LinkExpiresAt.IsZero() {
		t.Fatalf("List(failed) = %+v, %v; want it without its link", failed, err)
	}
	if err := o.Retry(t.Context(), m.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	got := mustClaim(t, o, "w2", at.Add(time.Hour), time.Minute, 1)
	if len(got) != 1 {
		t.Fatalf("after Retry: claimed %d messages, want 1", len(got))
	}
	if r := got[0]; r.Prepared || r.Link != "" || !r.LinkExpiresAt.IsZero() || r.UserID != m.UserID || r.Name != m.Name {
		t.Fatalf("after Retry: claimed %+v, want it unprepared, without a link, its account kept", r)
	}
	fresh := newToken(m.UserID, domain.PurposeResetPassword, at.Add(time.Hour))
	m.Link, m.LinkExpiresAt = "https://auth.example.com/reset-password?token=fresh", fresh.ExpiresAt
	if err := o.Prepare(t.Context(), "w2", m, fresh); err != nil {
		t.Fatalf("Prepare after Retry: %v", err)
	}
	if _, err := tokens.Consume(t.Context(), fresh.Hash, domain.PurposeResetPassword, at.Add(time.Hour)); err != nil {
		t.Fatalf("the fresh token: %v", err)
	}
}

// outboxPrepareSuperseded: only the newest message of a kind for an account may make a token.
// An older one is refused (domain.ErrMailSuperseded, nothing written) while a newer one is
// pending — here queued by the account's address alone, not yet prepared — or sent: after an
// operator's retry too, so that the old message never ends the newer mail's link.
func outboxPrepareSuperseded(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	user, addr := uuid.NewString(), "ada-"+uuid.NewString()[:8]+"@example.com"
	// As PasswordReset.Forgot queues them: the address alone; old first.
	old, newer := outboxMail(at, domain.MailResetPassword), outboxMail(at.Add(time.Millisecond), domain.MailResetPassword)
	old.UserID, old.To, newer.UserID, newer.To = "", addr, "", addr
	mustEnqueue(t, o, newer, old)
	if got := mustClaim(t, o, "w1", at.Add(time.Second), time.Minute, 2); len(got) != 2 {
		t.Fatalf("claimed %v, want both messages", mailIDs(got))
	}
	prepare := func(m domain.OutboxMail, owner string, at time.Time) (domain.OneTimeToken, error) {
		tok := newToken(user, domain.PurposeResetPassword, at)
		m.UserID, m.Link, m.LinkExpiresAt = user, "https://auth.example.com/reset-password?token="+m.ID, tok.ExpiresAt
		return tok, o.Prepare(t.Context(), owner, m, tok)
	}
	stored := func(id string) domain.OutboxMail {
		list, err := o.List(t.Context(), domain.OutboxQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list {
			if m.ID == id {
				return m
			}
		}
		t.Fatalf("message %s is not listed", id)
		return domain.OutboxMail{}
	}

	tok, err := prepare(old, "w1", at)
	if !errors.Is(err, domain.ErrMailSuperseded) {
		t.Fatalf("Prepare of the older message next to a newer pending one = %v, want ErrMailSuperseded", err)
	}
	mustNotConsume(t, tokens, tok.Hash, domain.PurposeResetPassword, at)
	if m := stored(old.ID); m.Prepared || m.Link != "" || m.UserID != "" {
		t.Fatalf("a refused Prepare wrote the message: %+v", m)
	}

	// The older message does not hold the newer one back; it is prepared and sent.
	newTok, err := prepare(newer, "w1", at)
	if err != nil {
		t.Fatalf("Prepare of the newer message: %v", err)
	}
	if err := o.Settle(t.Context(), newer.ID, "w1", domain.MailSettlement{Status: domain.MailSent, At: at}); err != nil {
		t.Fatal(err)
	}

	// The older one fails for good; an operator retries it: the sent newer one still wins.
	if err := o.Settle(t.Context(), old.ID, "w1", domain.MailSettlement{Status: domain.MailFailed, LastError: "smtp: dial failed", At: at}); err != nil {
		t.Fatal(err)
	}
	later := at.Add(10 * time.Minute)
	if err := o.Retry(t.Context(), old.ID, later); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if got := mustClaim(t, o, "w2", later, time.Minute, 1); len(got) != 1 || got[0].ID != old.ID {
		t.Fatalf("after Retry: claimed %v, want %s", mailIDs(got), old.ID)
	}
	tok, err = prepare(old, "w2", later)
	if !errors.Is(err, domain.ErrMailSuperseded) {
		t.Fatalf("Prepare of the retried older message next to a newer sent one = %v, want ErrMailSuperseded", err)
	}
	mustNotConsume(t, tokens, tok.Hash, domain.PurposeResetPassword, later)
	if _, err := tokens.Consume(t.Context(), newTok.Hash, domain.PurposeResetPassword, later); err != nil {
		t.Fatalf("the newer message's token after the older one's retry: %v", err)
	}
}

// outboxPrepareNotSuperseded: what does not supersede a message: a newer one of its account that
// failed or was dropped, one of another kind, one of another account (by id or by address), and
// an older one.
func outboxPrepareNotSuperseded(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	at := now()
	user, addr := uuid.NewString(), "ada-"+uuid.NewString()[:8]+"@example.com"
	mail := func(d time.Duration, kind domain.MailKind, userID, to string) domain.OutboxMail {
		m := outboxMail(at.Add(d), kind)
		m.UserID, m.To = userID, to
		return m
	}
	older := mail(0, domain.MailResetPassword, user, addr)
	m := mail(time.Millisecond, domain.MailResetPassword, "", addr)
	failed := mail(2*time.Millisecond, domain.MailResetPassword, user, addr)
	dropped := mail(3*time.Millisecond, domain.MailResetPassword, "", addr)
	otherKind := mail(4*time.Millisecond, domain.MailVerifyEmail, user, addr)
	otherUser := mail(5*time.Millisecond, domain.MailResetPassword, uuid.NewString(), addr)
	otherAddr := mail(6*time.Millisecond, domain.MailResetPassword, "", "bob-"+uuid.NewString()[:8]+"@example.com")
	mustEnqueue(t, o, older, m, failed, dropped, otherKind, otherUser, otherAddr)
	mustClaim(t, o, "w1", at.Add(time.Second), time.Minute, 10)
	for id, st := range map[string]domain.MailStatus{failed.ID: domain.MailFailed, dropped.ID: domain.MailDropped} {
		if err := o.Settle(t.Context(), id, "w1", domain.MailSettlement{Status: st, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	tok := newToken(user, domain.PurposeResetPassword, at)
	m.UserID, m.Link, m.LinkExpiresAt = user, "https://auth.example.com/reset-password?token=t", tok.ExpiresAt
	if err := o.Prepare(t.Context(), "w1", m, tok); err != nil {
		t.Fatalf("Prepare: %v; nothing newer of its kind for its account is pending or sent", err)
	}
	if _, err := tokens.Consume(t.Context(), tok.Hash, domain.PurposeResetPassword, at); err != nil {
		t.Fatalf("the prepared token: %v", err)
	}
}

// outboxSuperseded: Superseded answers by Prepare's rule, without writing: an older message is
// superseded by a newer pending or sent one of its kind and account, not once that one failed;
// the newer one is not superseded by the older; an unknown message is domain.ErrNotFound.
func outboxSuperseded(t *testing.T, o ports.MailOutbox, _ ports.OneTimeTokens) {
	at := now()
	older := outboxMail(at, domain.MailResetPassword)
	newer := outboxMail(at.Add(time.Millisecond), domain.MailResetPassword)
	newer.UserID, newer.To = older.UserID, older.To
	mustEnqueue(t, o, older)
	check := func(m domain.OutboxMail, want bool) {
		t.Helper()
		if got, err := o.Superseded(t.Context(), m); err != nil || got != want {
			t.Fatalf("Superseded(%s) = %v, %v; want %v", m.ID, got, err, want)
		}
	}
	check(older, false)
	mustEnqueue(t, o, newer)
	check(older, true)
	check(newer, false)
	mustClaim(t, o, "w1", at.Add(time.Second), time.Minute, 2)
	if err := o.Settle(t.Context(), newer.ID, "w1", domain.MailSettlement{Status: domain.MailSent, At: at}); err != nil {
		t.Fatal(err)
	}
	check(older, true)
	other := outboxMail(at.Add(2*time.Millisecond), domain.MailResetPassword)
	other.UserID, other.To = older.UserID, older.To
	mustEnqueue(t, o, other)
	mustClaim(t, o, "w1", at.Add(time.Second), time.Minute, 1)
	if err := o.Settle(t.Context(), other.ID, "w1", domain.MailSettlement{Status: domain.MailFailed, At: at}); err != nil {
		t.Fatal(err)
	}
	check(newer, false) // a failed newer message holds nothing back
	if _, err := o.Superseded(t.Context(), outboxMail(at, domain.MailResetPassword)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Superseded(unknown) = %v, want ErrNotFound", err)
	}
}

// outboxCancel: Cancel drops the account's pending (leased or not) and failed messages of the
// kind, wiping the link, and nothing else; the worker that held a lease writes nothing more on
// its message, and no operator's retry brings a cancelled one back.
func outboxCancel(t *testing.T, o ports.MailOutbox, tokens ports.OneTimeTokens) {
	ctx := t.Context()
	at := now()
	mine := func(at time.Time, kind domain.MailKind) domain.OutboxMail {
		m := outboxMail(at, kind)
		m.UserID = "u-cancel"
		return m
	}
	failed, sent := mine(at, domain.MailConfirmEmailChange), mine(at.Add(time.Millisecond), domain.MailConfirmEmailChange)
	mustEnqueue(t, o, failed, sent)
	mustClaim(t, o, "w1", at.Add(10*time.Millisecond), time.Minute, 2)
	for id, st := range map[string]domain.MailStatus{failed.ID: domain.MailFailed, sent.ID: domain.MailSent} {
		if err := o.Settle(ctx, id, "w1", domain.MailSettlement{Status: st, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	leased := mine(at.Add(2*time.Millisecond), domain.MailConfirmEmailChange)
	mustEnqueue(t, o, leased)
	mustClaim(t, o, "w2", at.Add(10*time.Millisecond), time.Minute, 1)
	first := newToken(leased.UserID, domain.PurposeChangeEmail, at)
	leased.Link, leased.LinkExpiresAt = "https://auth.example.com/confirm-email?token=first", first.ExpiresAt
	if err := o.Prepare(ctx, "w2", leased, first); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	pending, otherKind, otherUser := mine(at.Add(3*time.Millisecond), domain.MailConfirmEmailChange),
		mine(at.Add(3*time.Millisecond), domain.MailResetPassword), outboxMail(at.Add(3*time.Millisecond), domain.MailConfirmEmailChange)
	mustEnqueue(t, o, pending, otherKind, otherUser)

	n, err := o.Cancel(ctx, "u-cancel", domain.MailConfirmEmailChange, "the password changed", at.Add(time.Second))
	if err != nil || n != 3 {
		t.Fatalf("Cancel = %d, %v; want 3 (the pending, the leased and the failed message)", n, err)
	}
	list, err := o.List(ctx, domain.OutboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]domain.MailStatus{failed.ID: domain.MailDropped, leased.ID: domain.MailDropped, pending.ID: domain.MailDropped,
		sent.ID: domain.MailSent, otherKind.ID: domain.MailPending, otherUser.ID: domain.MailPending}
	for _, m := range list {
		if m.Status != want[m.ID] {
			t.Fatalf("after Cancel, %s (%s) is %s, want %s", m.ID, m.Kind, m.Status, want[m.ID])
		}
		if m.Status == domain.MailDropped && (m.Link != "" || m.LastError != "the password changed") {
			t.Fatalf("a cancelled message: %+v, want its link wiped and the reason", m)
		}
	}
	if len(list) != len(want) {
		t.Fatalf("after Cancel: %v", mailIDs(list))
	}

	// The worker that held the lease writes nothing more: no new token, no settlement.
	second := newToken(leased.UserID, domain.PurposeChangeEmail, at)
	leased.Link = "https://auth.example.com/confirm-email?token=second"
	if err := o.Prepare(ctx, "w2", leased, second); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("Prepare of a cancelled message = %v, want ErrStale", err)
	}
	mustNotConsume(t, tokens, second.Hash, domain.PurposeChangeEmail, at)
	if err := o.Settle(ctx, leased.ID, "w2", domain.MailSettlement{Status: domain.MailSent, At: at}); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("Settle of a cancelled message = %v, want ErrStale", err)
	}
	if err := o.Retry(ctx, failed.ID, at.Add(time.Hour)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Retry of a cancelled message = %v, want ErrNotFound", err)
	}
	got := mustClaim(t, o, "w3", at.Add(time.Hour), time.Minute, 10)
	if ids := mailIDs(got); len(ids) != 2 || !slices.Contains(ids, otherKind.ID) || !slices.Contains(ids, otherUser.ID) {
		t.Fatalf("claimed after Cancel: %v, want only the other kind's and the other account's", ids)
	}
}
