package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/uptrace/bun"
)

// AuditLog is the SQL ports.AuditLog over the audit_events table. Record ids are time-ordered
// (UUIDv7) and compared byte for byte, so id order is time order and the id is the page cursor.
type AuditLog struct {
	db bun.IDB
}

var _ ports.AuditLog = (*AuditLog)(nil)

// NewAuditLog returns the audit log of db.
func NewAuditLog(db *DB) *AuditLog { return &AuditLog{db: db.bun} }

// Append stores r. IP, user agent, outcome and detail longer than their columns are cut to fit.
// r.ID is required; a taken id is domain.ErrConflict.
func (l *AuditLog) Append(ctx context.Context, r domain.AuditRecord) error {
	if r.ID == "" {
		return errors.New("append audit record: empty id")
	}
	row := auditToRow(r)
	err := retryConflict(ctx, l.db, func() error {
		_, err := l.db.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		return translate(fmt.Sprintf("append audit record %s", r.Event), err)
	}
	return nil
}

// List returns up to q.Limit records (clamped to 1..1000) matching q, newest (highest id) first,
// with ids below q.BeforeID when it is set. q.UserID keeps records whose actor or subject is that
// user; q.Event keeps one kind of event.
func (l *AuditLog) List(ctx context.Context, q domain.AuditQuery) ([]domain.AuditRecord, error) {
	var rows []auditRow
	sel := l.db.NewSelect().Model(&rows)
	if q.BeforeID != "" {
		sel.Where("a.id < ?", q.BeforeID)
	}
	if q.UserID != "" {
		sel.Where("(a.actor_id = ? OR a.subject_id = ?)", q.UserID, q.UserID)
	}
	if q.Event != "" {
		sel.Where("a.event = ?", string(q.Event))
	}
	if err := sel.OrderExpr("a.id DESC").Limit(int64(clampLimit(q.Limit))).Scan(ctx); err != nil {
		return nil, translate("list audit records", err)
	}
	out := make([]domain.AuditRecord, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}
