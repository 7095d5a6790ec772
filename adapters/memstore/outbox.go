package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Outbox is an in-process ports.MailOutbox over a map under one mutex, with the leases of the
// SQL one. Prepare writes the token into the OneTimeTokens it was built with, under the same
// lock order every time (outbox, then tokens), so that the pair is written together. Safe for
// concurrent use.
type Outbox struct {
	tokens *OneTimeTokens

	mu   sync.Mutex
	msgs map[string]*outboxEntry
}

type outboxEntry struct {
	mail       domain.OutboxMail
	leaseOwner string
	leaseUntil time.Time
}

var _ ports.MailOutbox = (*Outbox)(nil)

// NewOutbox returns an empty outbox whose Prepare creates tokens in tokens.
func NewOutbox(tokens *OneTimeTokens) *Outbox {
	return &Outbox{tokens: tokens, msgs: map[string]*outboxEntry{}}
}

// Enqueue stores mails as pending (all or none: an id already present refuses them all).
func (o *Outbox) Enqueue(ctx context.Context, mails ...domain.OutboxMail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range mails {
		if _, ok := o.msgs[m.ID]; ok {
			return fmt.Errorf("enqueue mail: %w", domain.ErrConflict)
		}
	}
	for _, m := range mails {
		if m.Status == "" {
			m.Status = domain.MailPending
		}
		if m.NextAttemptAt.IsZero() {
			m.NextAttemptAt = m.CreatedAt
		}
		if m.UpdatedAt.IsZero() {
			m.UpdatedAt = m.CreatedAt
		}
		o.msgs[m.ID] = &outboxEntry{mail: m}
	}
	return nil
}

// Claim leases up to limit due messages to owner, oldest first.
func (o *Outbox) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []*outboxEntry
	for _, e := range o.msgs {
		if e.mail.Status == domain.MailPending && !e.mail.NextAttemptAt.After(now) && !e.leaseUntil.After(now) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *outboxEntry) int {
		return cmp.Or(a.mail.NextAttemptAt.Compare(b.mail.NextAttemptAt), cmp.Compare(a.mail.ID, b.mail.ID))
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]domain.OutboxMail, len(due))
	for i, e := range due {
		e.leaseOwner, e.leaseUntil = owner, now.Add(lease)
		e.mail.Attempts++
		e.mail.UpdatedAt = now
		out[i] = e.mail
	}
	return out, nil
}

// leasedTo returns the pending message id if owner holds its lease; the caller holds mu.
func (o *Outbox) leasedTo(id, owner string) (*outboxEntry, error) {
	e, ok := o.msgs[id]
	if !ok || e.leaseOwner != owner || e.mail.Status != domain.MailPending {
		return nil, fmt.Errorf("the lease on the message ended: %w", domain.ErrStale)
	}
	return e, nil
}

// Prepare stores m's link, its expiry and name and creates t, under owner's lease, unless a
// newer message supersedes m. Enqueue takes the same lock, so no newer message can come between
// the check and the token.
func (o *Outbox) Prepare(ctx context.Context, owner string, m domain.OutboxMail, t domain.OneTimeToken) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("prepare mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.leasedTo(m.ID, owner)
	if err != nil {
		return fmt.Errorf("prepare mail: %w", err)
	}
	if o.superseded(m, e.mail.CreatedAt) {
		return fmt.Errorf("prepare mail: %w", domain.ErrMailSuperseded)
	}
	if err := o.tokens.Create(ctx, t); err != nil {
		return fmt.Errorf("prepare mail: %w", err)
	}
	e.mail.Link, e.mail.LinkExpiresAt, e.mail.Name, e.mail.UserID, e.mail.Prepared = m.Link, m.LinkExpiresAt, m.Name, m.UserID, true
	return nil
}

// Superseded reports whether a stored message supersedes m (domain.OutboxMail.Supersedes).
func (o *Outbox) Superseded(ctx context.Context, m domain.OutboxMail) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("check newer mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.msgs[m.ID]
	if !ok {
		return false, fmt.Errorf("check newer mail %s: %w", m.ID, domain.ErrNotFound)
	}
	return o.superseded(m, e.mail.CreatedAt), nil
}

// superseded reports whether a stored message supersedes m, created at created (as stored);
// the caller holds the lock.
func (o *Outbox) superseded(m domain.OutboxMail, created time.Time) bool {
	m.CreatedAt = created
	for _, other := range o.msgs {
		if other.mail.Supersedes(m) {
			return true
		}
	}
	return false
}

// Settle records the outcome of an attempt and releases owner's lease.
func (o *Outbox) Settle(ctx context.Context, id, owner string, s domain.MailSettlement) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("settle mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, err := o.leasedTo(id, owner)
	if err != nil {
		return fmt.Errorf("settle mail: %w", err)
	}
	e.mail.Status, e.mail.LastError, e.mail.UpdatedAt = s.Status, s.LastError, s.At
	e.leaseOwner, e.leaseUntil = "", time.Time{}
	if s.Status == domain.MailPending {
		e.mail.NextAttemptAt = s.NextAttemptAt
	} else {
		e.mail.Link, e.mail.LinkExpiresAt = "", time.Time{}
	}
	return nil
}

// List returns up to q.Limit messages matching q, newest first.
func (o *Outbox) List(ctx context.Context, q domain.OutboxQuery) ([]domain.OutboxMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []domain.OutboxMail
	for _, e := range o.msgs {
		if q.Status == "" || e.mail.Status == q.Status {
			out = append(out, e.mail)
		}
	}
	slices.SortFunc(out, func(a, b domain.OutboxMail) int { return newestFirst(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Retry makes failed message id pending again, due at now, with its attempts reset and
// unprepared, so that the worker makes it a fresh link.
func (o *Outbox) Retry(ctx context.Context, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retry mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.msgs[id]
	if !ok || e.mail.Status != domain.MailFailed {
		return fmt.Errorf("retry mail: %w", domain.ErrNotFound)
	}
	e.mail.Status, e.mail.Attempts, e.mail.NextAttemptAt, e.mail.UpdatedAt = domain.MailPending, 0, now, now
	e.mail.Prepared, e.mail.Link, e.mail.LinkExpiresAt = false, "", time.Time{}
	return nil
}

// Cancel drops userID's pending and failed messages of kind, as of at.
func (o *Outbox) Cancel(ctx context.Context, userID string, kind domain.MailKind, reason string, at time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cancel mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.msgs {
		m := &e.mail
		if m.UserID != userID || m.Kind != kind || (m.Status != domain.MailPending && m.Status != domain.MailFailed) {
			continue
		}
		m.Status, m.LastError, m.UpdatedAt = domain.MailDropped, reason, at
		m.Link, m.LinkExpiresAt = "", time.Time{}
		e.leaseOwner, e.leaseUntil = "", time.Time{}
		n++
	}
	return n, nil
}

// Purge deletes settled messages (sent, dropped) last updated before before.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("purge mail: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for id, e := range o.msgs {
		if (e.mail.Status == domain.MailSent || e.mail.Status == domain.MailDropped) && e.mail.UpdatedAt.Before(before) {
			delete(o.msgs, id)
			n++
		}
	}
	return n, nil
}
