package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// AuditLog is an in-process ports.AuditLog, safe for concurrent use. Records are kept in id
// order; ids are time-ordered (UUIDv7) and compared byte for byte, as the SQL adapter does, so
// the highest id is the newest record.
type AuditLog struct {
	mu      sync.RWMutex
	records []domain.AuditRecord // ascending by ID
}

var _ ports.AuditLog = (*AuditLog)(nil)

// NewAuditLog returns an empty audit log.
func NewAuditLog() *AuditLog { return &AuditLog{} }

// Append stores r. r.ID is required; a taken id is domain.ErrConflict.
func (l *AuditLog) Append(ctx context.Context, r domain.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append audit record: %w", err)
	}
	if r.ID == "" {
		return errors.New("append audit record: empty id")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i, found := slices.BinarySearchFunc(l.records, r.ID, func(e domain.AuditRecord, id string) int {
		return cmp.Compare(e.ID, id)
	})
	if found {
		return fmt.Errorf("append audit record %s: %w", r.ID, domain.ErrConflict)
	}
	l.records = slices.Insert(l.records, i, r)
	return nil
}

// List returns up to q.Limit records (clamped to 1..1000) matching q, newest (highest id) first,
// with ids below q.BeforeID when it is set. q.UserID keeps records whose actor or subject is that
// user; q.Event keeps one kind of event.
func (l *AuditLog) List(ctx context.Context, q domain.AuditQuery) ([]domain.AuditRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	limit := clampLimit(q.Limit)
	l.mu.RLock()
	defer l.mu.RUnlock()
	end := len(l.records)
	if q.BeforeID != "" {
		end, _ = slices.BinarySearchFunc(l.records, q.BeforeID, func(e domain.AuditRecord, id string) int {
			return cmp.Compare(e.ID, id)
		})
	}
	out := []domain.AuditRecord{}
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		r := l.records[i]
		if q.UserID != "" && r.ActorID != q.UserID && r.SubjectID != q.UserID {
			continue
		}
		if q.Event != "" && r.Event != q.Event {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}
