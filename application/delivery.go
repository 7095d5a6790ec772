package application

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// deliveryBatch is how many messages one claim takes.
const deliveryBatch = 20

// MailDelivery is the worker that drains the outbox: it claims due messages under a lease,
// prepares those with a link (a new one-time token, written with the link in one transaction,
// for the account the request named — or drops the message when there is none, or when a newer
// message of its kind for the account is pending or sent; again when the link is gone or half
// its lifetime has passed), renders and sends them, and settles each: sent, again later with
// exponential backoff, or failed after MailSettings.MaxAttempts. Any number of workers, in any
// number of processes, may run over one outbox; the lease gives each message to one at a time.
// A worker that dies mid-send loses nothing: its lease runs out and another worker takes the
// message.
type MailDelivery struct {
	outbox   ports.MailOutbox
	users    ports.UserStore
	composer ports.MailComposer
	mailer   ports.Mailer
	clock    ports.Clock
	settings MailSettings
	owner    string
	log      *slog.Logger

	wake chan struct{}
}

// NewMailDelivery wires a delivery worker; each gets a fresh owner id for its leases.
func NewMailDelivery(outbox ports.MailOutbox, users ports.UserStore, composer ports.MailComposer, mailer ports.Mailer,
	clock ports.Clock, ids ports.IDSource, settings MailSettings, log *slog.Logger) *MailDelivery {
	return &MailDelivery{outbox: outbox, users: users, composer: composer, mailer: mailer, clock: clock,
		settings: settings.withDefaults(), owner: ids.NewID(), log: log.With("component", "mail-delivery"),
		wake: make(chan struct{}, 1)}
}

// Wake asks the worker to look for due messages now rather than at its next poll (the queue
// of this process calls it after queueing). It never blocks.
func (d *MailDelivery) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: a claim right away, then again after each PollInterval or Wake.
// A batch that came back full is followed at once by the next.
func (d *MailDelivery) Run(ctx context.Context) {
	t := time.NewTicker(d.settings.PollInterval)
	defer t.Stop()
	for {
		n, err := d.RunOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.WarnContext(ctx, "mail delivery: claim failed; trying again at the next poll", "error", err)
		}
		if n == deliveryBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
	}
}

// RunOnce claims one batch of due messages and handles them concurrently, returning how many
// it claimed.
func (d *MailDelivery) RunOnce(ctx context.Context) (int, error) {
	lease := 2 * d.settings.SendTimeout
	claimed := time.Now()
	mails, err := d.outbox.Claim(ctx, d.owner, d.clock.Now(), lease, deliveryBatch)
	if err != nil {
		return 0, err
	}
	// The lease counts from before the claim, and a send and its settlement (each up to
	// SendTimeout) must both end inside it, or another worker could take the message while this
	// one still sends it: what a slow claim took comes out of each send's time.
	budget := d.settings.SendTimeout - time.Since(claimed)
	var wg sync.WaitGroup
	for _, m := range mails {
		wg.Go(func() { d.deliver(ctx, m, budget) })
	}
	wg.Wait()
	return len(mails), nil
}

// errDrop marks a message deliberately not sent; its text says why.
type errDrop struct{ reason string }

func (e errDrop) Error() string { return e.reason }

// deliver handles one claimed message to its settlement, its attempt bounded by budget (see
// RunOnce). With no budget left it sends nothing and settles nothing: the lease runs out and
// the message is claimed again.
func (d *MailDelivery) deliver(ctx context.Context, m domain.OutboxMail, budget time.Duration) {
	log := d.log.With("mail_id", m.ID, "kind", string(m.Kind), "attempt", m.Attempts)
	if budget <= 0 {
		log.WarnContext(ctx, "mail: the claim took the time of the send; leaving the message to a later claim")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	err := d.prepare(ctx, &m)
	var msg ports.Mail
	if err == nil {
		msg, err = d.compose(m, d.clock.Now())
	}
	if err == nil {
		err = d.mailer.Send(ctx, msg)
	}
	s := domain.MailSettlement{Status: domain.MailSent, At: d.clock.Now()}
	var drop errDrop
	switch {
	case errors.As(err, &drop):
		s.Status, s.LastError = domain.MailDropped, drop.reason
		log.InfoContext(ctx, "mail dropped", "reason", drop.reason)
	case errors.Is(err, errNoLink):
		s.Status, s.LastError = domain.MailFailed, err.Error()
		log.ErrorContext(ctx, "mail failed: it would have gone out without its link; not sent", "error", err)
	case errors.Is(err, domain.ErrStale):
		log.WarnContext(ctx, "mail: the lease ran out before the message was prepared; another worker has it")
		return
	case err != nil && m.Attempts >= d.settings.MaxAttempts:
		s.Status, s.LastError = domain.MailFailed, err.Error()
		log.ErrorContext(ctx, "mail failed for good; `portcullis mail retry` sends it again", "error", err)
	case err != nil:
		s.Status, s.LastError, s.NextAttemptAt = domain.MailPending, err.Error(), s.At.Add(d.backoff(m.Attempts))
		log.WarnContext(ctx, "mail not sent; will retry", "error", err, "next_attempt_at", s.NextAttemptAt)
	default:
		log.InfoContext(ctx, "mail sent", "user_id", m.UserID)
	}
	// Settle even when the attempt's time ran out: the outcome must be recorded.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), d.settings.SendTimeout)
	defer scancel()
	if err := d.outbox.Settle(sctx, m.ID, d.owner, s); err != nil {
		log.ErrorContext(ctx, "mail: recording the outcome failed", "status", string(s.Status), "error", err)
	}
}

// backoff is the wait after the attempts-th failed attempt: RetryBase doubled per earlier
// attempt, capped at RetryMax, less up to a fifth at random so that workers spread out.
func (d *MailDelivery) backoff(attempts int) time.Duration {
	wait := d.settings.RetryBase
	for i := 1; i < attempts && wait < d.settings.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, d.settings.RetryMax)
	return wait - time.Duration(rand.Int64N(int64(wait)/5+1))
}

// errNoLink marks a message of a kind with a link that would go out without it (or whose
// composer lost it): useless to its reader, and a fault of Portcullis, not of the mail server,
// so it is failed at once rather than retried.
var errNoLink = errors.New("the message has no link")

// compose renders m as of now, refusing with errNoLink a message of a kind with a link that has
// none.
func (d *MailDelivery) compose(m domain.OutboxMail, now time.Time) (ports.Mail, error) {
	_, withLink := m.Kind.Purpose()
	if withLink && m.Link == "" {
		return ports.Mail{}, errNoLink
	}
	msg, err := d.composer.Compose(m, now)
	if err == nil && withLink && msg.Link != m.Link {
		return ports.Mail{}, fmt.Errorf("compose %s: %w", m.Kind, errNoLink)
	}
	return msg, err
}

// prepare gives a message with a link its token: at its first attempt, and at a later one when
// its link is gone (an operator's retry of a failed message, whose link was wiped) or must be
// renewed (see renewLink). It finds the account (by id, or by the address the request named),
// checks the message still makes sense for it, and stores the token with the link and its
// expiry in one transaction: a crash after it leaves a link whose token exists, which the next
// attempt sends, and a crash before it leaves no token behind. A new token supersedes the
// account's earlier one of its purpose, so a renewed message never has two working links out;
// and so only the newest message of a kind for the account may make one (the outbox refuses an
// older one, domain.ErrMailSuperseded): an operator's retry of an old failed message, or an
// older message that comes up late, is dropped rather than end the link of a newer mail; and so
// is an older message about to reuse its link, whose token a newer message's has ended.
// It returns errDrop when there is nothing to send.
func (d *MailDelivery) prepare(ctx context.Context, m *domain.OutboxMail) error {
	purpose, ok := m.Kind.Purpose()
	if !ok {
		return nil
	}
	now, ttl := d.clock.Now(), d.settings.ttl(purpose)
	if m.Prepared && m.Link != "" && !renewLink(m.LinkExpiresAt, now, ttl) {
		// The link is reused, but a newer message of its kind may have made its token since,
		// which ended this one's: the mail would arrive last with the one link that no longer
		// works.
		switch superseded, err := d.outbox.Superseded(ctx, *m); {
		case err != nil:
			return err
		case superseded:
			return errDrop{domain.ErrMailSuperseded.Error()}
		}
		return nil
	}
	var (
		u   domain.User
		err error
	)
	if m.UserID != "" {
		u, err = d.users.ByID(ctx, m.UserID)
	} else {
		u, err = d.users.ByEmail(ctx, m.To)
	}
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return errDrop{"no account"}
	case err != nil:
		return fmt.Errorf("load user: %w", err)
	case u.Disabled:
		return errDrop{"account disabled"}
	case purpose != domain.PurposeChangeEmail && u.Email != m.To:
		return errDrop{"the account's address changed"}
	case m.Kind == domain.MailVerifyEmail && u.EmailVerified:
		return errDrop{"already verified"}
	}
	about := m.To
	if purpose == domain.PurposeChangeEmail {
		about = m.NewEmail
	}
	secret, tok, err := newOneTimeToken(u.ID, purpose, about, now, ttl)
	if err != nil {
		return err
	}
	m.UserID, m.Name, m.Link, m.LinkExpiresAt, m.Prepared = u.ID, u.Name, d.settings.link(purpose, secret), tok.ExpiresAt, true
	err = d.outbox.Prepare(ctx, d.owner, *m, tok)
	switch {
	case errors.Is(err, domain.ErrMailSuperseded):
		return errDrop{domain.ErrMailSuperseded.Error()}
	case err != nil:
		return fmt.Errorf("prepare mail: %w", err)
	}
	return nil
}

// renewLink reports whether a link expiring at expires, whose token lives ttl, is replaced by a
// fresh one before an attempt at now: when less than half its lifetime is left (or its expiry
// is unknown: prepared before the outbox kept it).
//
// Not a fresh link at every attempt, because an attempt may reach the reader without the worker
// knowing (the server took the message and its answer was lost, or the worker died after the
// send): the repeat carries the same Message-ID, a mail client may keep only the first copy, and
// that copy's link must go on working. Not only once it has expired, because a mail whose link
// is about to expire is of little use to a reader who opens it a little later (the mail states
// the time the link has left when it is sent, see ports.MailComposer, not the whole ttl). Half
// bounds both: a mail arrives with at least half a link's lifetime, and only an outage longer
// than half of it costs an earlier copy its link.
func renewLink(expires, now time.Time, ttl time.Duration) bool {
	return expires.Sub(now) < ttl/2
}
