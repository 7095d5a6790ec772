package application_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

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

func (plainComposer) Compose(m domain.OutboxMail) (ports.Mail, error) {
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
