package application

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Outbox is the administrator's view of the mail outbox (`portcullis mail`): list messages and
// queue failed ones again. Only admins (and the Operator) may use it.
type Outbox struct {
	outbox ports.MailOutbox
	clock  ports.Clock
}

// NewOutbox wires the outbox use case.
func NewOutbox(outbox ports.MailOutbox, clock ports.Clock) *Outbox {
	return &Outbox{outbox: outbox, clock: clock}
}

// MailView is an outbox message as it is shown: never its link, which is a live token.
type MailView struct {
	ID        string
	Kind      domain.MailKind
	To        string
	Status    domain.MailStatus
	Attempts  int
	LastError string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// List returns up to limit messages in status ("" for any), newest first.
func (o *Outbox) List(ctx context.Context, actor Principal, status domain.MailStatus, limit int) ([]MailView, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return nil, domain.ErrForbidden
	}
	list, err := o.outbox.List(ctx, domain.OutboxQuery{Status: status, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	out := make([]MailView, len(list))
	for i, m := range list {
		out[i] = MailView{ID: m.ID, Kind: m.Kind, To: m.To, Status: m.Status, Attempts: m.Attempts,
			LastError: m.LastError, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	}
	return out, nil
}

// Retry makes failed message id pending and due now, its attempts reset; a message that does
// not exist or has not failed is domain.ErrNotFound.
func (o *Outbox) Retry(ctx context.Context, actor Principal, id string) error {
	if !actor.HasRole(domain.RoleAdmin) {
		return domain.ErrForbidden
	}
	return o.outbox.Retry(ctx, id, o.clock.Now())
}
