package application_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/adapters/mail"
	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// slowClaims is an outbox whose Claim takes delay (a database under load).
type slowClaims struct {
	ports.MailOutbox
	delay time.Duration
}

func (s slowClaims) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMail, error) {
	time.Sleep(s.delay)
	return s.MailOutbox.Claim(ctx, owner, now, lease, limit)
}

type countingMailer struct{ sent atomic.Int32 }

func (m *countingMailer) Send(context.Context, ports.Mail) error { m.sent.Add(1); return nil }

type plainComposer struct{}

func (plainComposer) Compose(m domain.OutboxMail, _ time.Time) (ports.Mail, error) {
	return ports.Mail{ID: m.ID, To: m.To, Subject: "s", Text: "t"}, nil
}

// A claim that took longer than a send may leaves its messages alone: the lease, counted from
// before the claim, could run out during the send, and another worker would send the message
// again. The message is claimed again once the lease has ended, and sent once.
func TestMailDelivery_SlowClaimSendsNothingInsideAnEndingLease(t *testing.T) {
	ctx := t.Context()
	outbox := memstore.NewOutbox(memstore.NewOneTimeTokens())
	now := time.Now().UTC()
	if err := outbox.Enqueue(ctx, domain.OutboxMail{ID: "m1", Kind: domain.MailPasswordChanged, To: "a@example.com",
		UserID: "u1", Status: domain.MailPending, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	mailer := &countingMailer{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	worker := func(o ports.MailOutbox, sendTimeout time.Duration) *application.MailDelivery {
		return application.NewMailDelivery(o, memstore.NewUsers(), plainComposer{}, mailer, system.NewClock(), system.NewIDs(),
			application.MailSettings{SendTimeout: sendTimeout}, log)
	}

	// The claim takes 200 ms; a send may take 50 ms and the lease is 100 ms.
	n, err := worker(slowClaims{outbox, 200 * time.Millisecond}, 50*time.Millisecond).RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("slow claim: %d claimed, %v", n, err)
	}
	if got := mailer.sent.Load(); got != 0 {
		t.Fatalf("a message was sent after its lease had run out during the claim (%d sends)", got)
	}

	n, err = worker(outbox, 5*time.Second).RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("next claim: %d claimed, %v", n, err)
	}
	if got := mailer.sent.Load(); got != 1 {
		t.Fatalf("sends = %d, want 1", got)
	}
	list, err := outbox.List(ctx, domain.OutboxQuery{Limit: 10})
	if err != nil || len(list) != 1 || list[0].Status != domain.MailSent {
		t.Fatalf("outbox after delivery: %+v, %v", list, err)
	}
}

// scriptedMailer records every mail it is given and fails them while down (SMTP out).
type scriptedMailer struct {
	mu    sync.Mutex
	down  bool
	tried []ports.Mail
	sent  []ports.Mail
}

func (m *scriptedMailer) Send(_ context.Context, msg ports.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tried = append(m.tried, msg)
	if m.down {
		return errors.New("smtp: dial failed: connection refused")
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *scriptedMailer) setDown(down bool) { m.mu.Lock(); m.down = down; m.mu.Unlock() }

func (m *scriptedMailer) last() ports.Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.tried) == 0 {
		return ports.Mail{}
	}
	return m.tried[len(m.tried)-1]
}

// linkComposer renders a message into its link alone, as the real templates carry it.
type linkComposer struct{}

func (linkComposer) Compose(m domain.OutboxMail, _ time.Time) (ports.Mail, error) {
	return ports.Mail{ID: m.ID, To: m.To, Subject: "s", Text: "open " + m.Link, Link: m.Link}, nil
}

// deliveryWorld is a delivery worker over the memory stores with a settable clock, an account
// (ada@example.com) and a reset mail for it in the outbox.
type deliveryWorld struct {
	clock  *clock
	tokens *memstore.OneTimeTokens
	outbox *memstore.Outbox
	mailer *scriptedMailer
	worker *application.MailDelivery
	mailID string
}

const deliveryResetTTL = 30 * time.Minute

func newDeliveryWorld(t *testing.T, composer ports.MailComposer, settings application.MailSettings) *deliveryWorld {
	t.Helper()
	ctx := t.Context()
	w := &deliveryWorld{clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}, tokens: memstore.NewOneTimeTokens(),
		mailer: &scriptedMailer{}, mailID: "m1"}
	w.outbox = memstore.NewOutbox(w.tokens)
	users := memstore.NewUsers()
	if err := users.Create(ctx, domain.User{ID: "u1", Email: "ada@example.com", Name: "Ada", CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// As PasswordReset.Forgot queues it: the address alone.
	if err := w.outbox.Enqueue(ctx, domain.OutboxMail{ID: w.mailID, Kind: domain.MailResetPassword, To: "ada@example.com",
		Status: domain.MailPending, CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	settings.ResetTTL, settings.SendTimeout = deliveryResetTTL, 5*time.Second
	w.worker = application.NewMailDelivery(w.outbox, users, composer, w.mailer, w.clock, system.NewIDs(), settings,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	return w
}

// attempt runs one claim, which must take the message.
func (w *deliveryWorld) attempt(t *testing.T) {
	t.Helper()
	if n, err := w.worker.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("RunOnce: %d claimed, %v; want the message", n, err)
	}
}

// message is the outbox message of the world.
func (w *deliveryWorld) message(t *testing.T) domain.OutboxMail {
	t.Helper()
	list, err := w.outbox.List(t.Context(), domain.OutboxQuery{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	return list[0]
}

// linkWorks reports whether the token of link is a live reset token at at (and spends it).
func (w *deliveryWorld) linkWorks(t *testing.T, link string, at time.Time) bool {
	t.Helper()
	_, secret, ok := strings.Cut(link, "?token=")
	if !ok || secret == "" {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	_, err := w.tokens.Consume(t.Context(), h[:], domain.PurposeResetPassword, at)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// wantSuperseded fails t unless the world's message was dropped as superseded; what names it.
func (w *deliveryWorld) wantSuperseded(t *testing.T, what string) {
	t.Helper()
	list, err := w.outbox.List(t.Context(), domain.OutboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if m.ID == w.mailID && (m.Status != domain.MailDropped || !strings.Contains(m.LastError, "superseded")) {
			t.Fatalf("%s: %+v, want it dropped as superseded", what, m)
		}
	}
}

// A message that failed for good lost its link when it was settled; the operator's retry
// (portcullis mail retry) must send it with a fresh, working link, not with an empty one.
func TestMailDelivery_RetriedMessageCarriesAFreshLink(t *testing.T) {
	w := newDeliveryWorld(t, linkComposer{}, application.MailSettings{MaxAttempts: 2})
	w.mailer.setDown(true)
	w.attempt(t)
	w.clock.Advance(time.Minute)
	w.attempt(t)
	if m := w.message(t); m.Status != domain.MailFailed || m.Link != "" {
		t.Fatalf("after the outage: %+v, want it failed without its link", m)
	}
	first := w.mailer.last().Link

	w.mailer.setDown(false)
	w.clock.Advance(time.Hour)
	if err := application.NewOutbox(w.outbox, w.clock).Retry(t.Context(), application.Operator, w.mailID); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	w.attempt(t)
	if m := w.message(t); m.Status != domain.MailSent {
		t.Fatalf("after the retry: %+v, want it sent", m)
	}
	got := w.mailer.last()
	if got.Link == "" || got.Link == first || !strings.Contains(got.Text, got.Link) {
		t.Fatalf("the retried mail carries link %q (the failed one had %q), want a fresh one", got.Link, first)
	}
	if w.linkWorks(t, first, w.clock.Now().Add(-time.Hour)) {
		t.Fatal("the failed message's token still works next to the fresh one")
	}
	if !w.linkWorks(t, got.Link, w.clock.Now().Add(deliveryResetTTL-time.Second)) {
		t.Fatal("the retried mail's link does not work for its whole lifetime")
	}
}

// A message retried by an operator before retries made it unprepared is pending, prepared and
// without a link: the worker prepares it again rather than sending it without one. (A
// verification mail: the world's reset mail, newer, would supersede an older reset mail.)
func TestMailDelivery_PreparedMessageWithoutALinkIsPreparedAgain(t *testing.T) {
	w := newDeliveryWorld(t, linkComposer{}, application.MailSettings{})
	ctx := t.Context()
	if err := w.outbox.Enqueue(ctx, domain.OutboxMail{ID: "m0", Kind: domain.MailVerifyEmail, To: "ada@example.com", UserID: "u1",
		Prepared: true, Status: domain.MailPending, CreatedAt: w.clock.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.worker.RunOnce(ctx); err != nil || n != 2 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	w.mailer.mu.Lock()
	defer w.mailer.mu.Unlock()
	for _, m := range w.mailer.sent {
		if m.ID == "m0" && m.Link != "" {
			return
		}
	}
	t.Fatalf("the message without its link was sent as %+v", w.mailer.sent)
}

// A link's lifetime starts when it is prepared. A message held up by an SMTP outage keeps its
// link while more than half of that lifetime is left (a copy of an attempt that did reach the
// reader keeps working); past that, the next attempt makes a fresh link that supersedes it, so
// the mail never arrives with a link about to expire.
func TestMailDelivery_RenewsALinkPastHalfItsLifetime(t *testing.T) {
	w := newDeliveryWorld(t, linkComposer{}, application.MailSettings{MaxAttempts: 10})
	w.mailer.setDown(true)
	w.attempt(t)
	first := w.mailer.last().Link
	if first == "" {
		t.Fatal("the first attempt had no link")
	}

	w.clock.Advance(deliveryResetTTL/2 - time.Minute) // more than half the lifetime left
	w.attempt(t)
	if got := w.mailer.last().Link; got != first {
		t.Fatalf("an attempt with %v of the link's %v left made a new link", deliveryResetTTL/2+time.Minute, deliveryResetTTL)
	}

	w.clock.Advance(2 * time.Minute) // less than half left
	w.mailer.setDown(false)
	w.attempt(t)
	got := w.mailer.last().Link
	if m := w.message(t); m.Status != domain.MailSent {
		t.Fatalf("after the outage: %+v, want it sent", m)
	}
	if got == "" || got == first {
		t.Fatalf("sent with link %q with less than half its lifetime left, want a fresh one", got)
	}
	if w.linkWorks(t, first, w.clock.Now()) {
		t.Fatal("the old link still works next to the fresh one")
	}
	if !w.linkWorks(t, got, w.clock.Now().Add(deliveryResetTTL-time.Second)) {
		t.Fatal("the fresh link does not work for its whole lifetime")
	}
}

// A composer that would send a link mail without its link fails the message at once, loudly,
// instead of sending a useless mail or retrying it: that is Portcullis's fault, not SMTP's.
func TestMailDelivery_FailsAMailThatWouldGoOutWithoutItsLink(t *testing.T) {
	w := newDeliveryWorld(t, plainComposer{}, application.MailSettings{})
	w.attempt(t)
	if m := w.message(t); m.Status != domain.MailFailed || m.Attempts != 1 || !strings.Contains(m.LastError, "no link") {
		t.Fatalf("after the attempt: %+v, want it failed at once", m)
	}
	if n := len(w.mailer.tried); n != 0 {
		t.Fatalf("%d mails sent without their link", n)
	}
}

// An operator's retry of an old failed reset mail, after the user has asked for (and received)
// a newer one, must not send the old one with a fresh token: that token would end the newer
// mail's link, the one the user is about to open. The old message is dropped instead.
func TestMailDelivery_RetryOfAnOlderMessageKeepsTheNewerLink(t *testing.T) {
	w := newDeliveryWorld(t, linkComposer{}, application.MailSettings{MaxAttempts: 1})
	ctx := t.Context()
	w.mailer.setDown(true)
	w.attempt(t)
	if m := w.message(t); m.Status != domain.MailFailed {
		t.Fatalf("after the outage: %+v, want it failed", m)
	}

	w.mailer.setDown(false)
	w.clock.Advance(time.Minute)
	if err := w.outbox.Enqueue(ctx, domain.OutboxMail{ID: "m2", Kind: domain.MailResetPassword, To: "ada@example.com",
		Status: domain.MailPending, CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	w.attempt(t)
	newer := w.mailer.last()
	if newer.ID != "m2" || newer.Link == "" {
		t.Fatalf("the newer reset mail went out as %+v", newer)
	}

	w.clock.Advance(time.Minute)
	if err := application.NewOutbox(w.outbox, w.clock).Retry(ctx, application.Operator, w.mailID); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	w.attempt(t)
	w.wantSuperseded(t, "the retried older message")
	if got := w.mailer.last(); got.ID != "m2" {
		t.Fatalf("the retried older message was sent: %+v", got)
	}
	if !w.linkWorks(t, newer.Link, w.clock.Now()) {
		t.Fatal("the newer mail's link stopped working after the older message's retry")
	}
}

// A message held up by an outage keeps its link for its next attempt; if the user meanwhile asked
// for a newer mail of the kind, which went out with a token of its own, that link is dead, and
// the held-up message would arrive last with the one link that does not work: it is dropped.
func TestMailDelivery_HeldUpMessageDroppedOnceANewerOneWentOut(t *testing.T) {
	w := newDeliveryWorld(t, linkComposer{}, application.MailSettings{MaxAttempts: 5, RetryBase: 5 * time.Minute, RetryMax: time.Hour})
	ctx := t.Context()
	w.mailer.setDown(true)
	w.attempt(t)
	held := w.mailer.last().Link
	if held == "" {
		t.Fatal("the first attempt had no link")
	}

	w.mailer.setDown(false)
	w.clock.Advance(time.Minute)
	if err := w.outbox.Enqueue(ctx, domain.OutboxMail{ID: "m2", Kind: domain.MailResetPassword, To: "ada@example.com",
		Status: domain.MailPending, CreatedAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	w.attempt(t) // the held-up message is not due yet: the newer one goes
	newer := w.mailer.last()
	if newer.ID != "m2" || newer.Link == "" || newer.Link == held {
		t.Fatalf("the newer reset mail went out as %+v", newer)
	}

	w.clock.Advance(10 * time.Minute) // the held-up message is due, its link with more than half left
	w.attempt(t)
	if got := w.mailer.last(); got.ID != "m2" {
		t.Fatalf("the held-up message went out after the newer one, with link %q", got.Link)
	}
	w.wantSuperseded(t, "the held-up message")
	if !w.linkWorks(t, newer.Link, w.clock.Now()) {
		t.Fatal("the newer mail's link does not work")
	}
}

// A later attempt that sends the link of an earlier one (more than half its lifetime left) says
// how long it has left, not the lifetime of a new link: the reader of a reset mail held up ten
// minutes is told about 20 minutes, not 30.
func TestMailDelivery_ReusedLinkStatesTheTimeItHasLeft(t *testing.T) {
	templates, err := mail.NewTemplates(mail.TemplateConfig{Product: "Portcullis", PublicURL: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	w := newDeliveryWorld(t, templates, application.MailSettings{PublicURL: "https://auth.example.com"})
	w.mailer.setDown(true)
	w.attempt(t)
	first := w.mailer.last()
	if !strings.Contains(first.Text, "expires in about 30 minutes") {
		t.Fatalf("the first attempt, with a fresh link:\n%s", first.Text)
	}

	w.clock.Advance(10 * time.Minute)
	w.mailer.setDown(false)
	w.attempt(t)
	got := w.mailer.last()
	if m := w.message(t); m.Status != domain.MailSent || got.Link != first.Link {
		t.Fatalf("after the outage: %+v, sent with link %q; want it sent with the first link %q", m, got.Link, first.Link)
	}
	if !strings.Contains(got.Text, "expires in about 20 minutes") || strings.Contains(got.Text, "30 minutes") {
		t.Fatalf("the mail sent with a link ten minutes old:\n%s", got.Text)
	}
}
