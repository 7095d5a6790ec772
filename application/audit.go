package application

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// RequestInfo is who is asking, as the driving adapter saw it: the client address and user
// agent of an HTTP request, or empty for the operator's command line.
type RequestInfo struct {
	IP        string
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info, for the audit trail of the use cases it reaches.
func WithRequestInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfo(ctx context.Context) RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return info
}

// auditTimeout bounds one audit append, which outlives its request's cancellation.
const auditTimeout = 3 * time.Second

// Auditor appends security events to the audit trail. A failed append is logged and does not
// undo or fail the operation it records: the event has already happened.
type Auditor struct {
	log   ports.AuditLog
	clock ports.Clock
	ids   ports.IDSource
	slog  *slog.Logger
}

// NewAuditor wires the audit trail.
func NewAuditor(log ports.AuditLog, clock ports.Clock, ids ports.IDSource, logger *slog.Logger) *Auditor {
	return &Auditor{log: log, clock: clock, ids: ids, slog: logger}
}

// record appends one event, logging a failure; actor and subject are user ids ("" when none).
// It never carries a secret: detail must be short, non-secret context.
func (a *Auditor) record(ctx context.Context, event domain.AuditEvent, actor, subject, outcome, detail string) {
	if a == nil {
		return
	}
	info := requestInfo(ctx)
	r := domain.AuditRecord{
		ID: a.ids.NewID(), Time: a.clock.Now(), Event: event, ActorID: actor, SubjectID: subject,
		IP: truncate(info.IP, 64), UserAgent: truncate(info.UserAgent, 512), Outcome: outcome, Detail: truncate(detail, 256),
	}
	// The trail must be written even when the request's own context has just been cancelled,
	// but never wait on a hung store longer than auditTimeout.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := a.log.Append(actx, r); err != nil {
		a.slog.ErrorContext(ctx, "audit append failed", "event", string(event), "error", err)
	}
}

// AuditListInput selects a page of the audit trail.
type AuditListInput struct {
	Limit  int
	Cursor string // the NextCursor of the previous page; "" for the first
	UserID string
	Event  string
}

// AuditListOutput is one page of the audit trail, newest first.
type AuditListOutput struct {
	Records    []domain.AuditRecord
	NextCursor string // "" on the last page
}

// AuditTrail lets administrators read the audit trail.
type AuditTrail struct {
	log ports.AuditLog
}

// NewAuditTrail wires the audit-trail reader.
func NewAuditTrail(log ports.AuditLog) *AuditTrail { return &AuditTrail{log: log} }

// List returns a page of records. Only administrators may read the trail.
func (t *AuditTrail) List(ctx context.Context, actor Principal, in AuditListInput) (AuditListOutput, error) {
	if !actor.HasRole(domain.RoleAdmin) {
		return AuditListOutput{}, domain.ErrForbidden
	}
	limit, err := pageLimit(in.Limit)
	if err != nil {
		return AuditListOutput{}, err
	}
	q := domain.AuditQuery{Limit: limit + 1, BeforeID: in.Cursor, UserID: in.UserID, Event: domain.AuditEvent(in.Event)}
	if len(in.Cursor) > 64 || !isIDToken(in.Cursor) {
		return AuditListOutput{}, invalidCursor()
	}
	recs, err := t.log.List(ctx, q)
	if err != nil {
		return AuditListOutput{}, fmt.Errorf("list audit records: %w", err)
	}
	out := AuditListOutput{Records: recs}
	if len(recs) > limit {
		out.Records = recs[:limit]
		out.NextCursor = recs[limit-1].ID
	}
	return out, nil
}
