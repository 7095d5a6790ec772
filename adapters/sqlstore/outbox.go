package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

// Outbox is the SQL ports.MailOutbox, the mail_outbox table. Claim picks due rows and leases
// them in one transaction: on MySQL/MariaDB and PostgreSQL the rows are selected FOR UPDATE
// SKIP LOCKED, so concurrent claimers (goroutines or instances) each take other rows without
// waiting; on SQLite the transaction is immediate (one writer at a time), which serialises
// claims. Every later write on a message (Prepare, Settle) is conditional on the lease owner,
// so a worker whose lease ran out and was taken over writes nothing. Safe for concurrent use.
type Outbox struct{ conn }

var _ ports.MailOutbox = (*Outbox)(nil)

// NewOutbox returns the mail outbox of db.
func NewOutbox(db *DB) *Outbox {
	return &Outbox{connOf(db)}
}

// Enqueue inserts mails in one statement.
func (o *Outbox) Enqueue(ctx context.Context, mails ...domain.OutboxMail) error {
	if len(mails) == 0 {
		return nil
	}
	rows := make([]outboxRow, len(mails))
	for i, m := range mails {
		rows[i] = outboxToRow(m)
	}
	if _, err := execRetry(ctx, o.db, o.db.NewInsert().Model(&rows)); err != nil {
		return translate("enqueue mail", err)
	}
	return nil
}

// Claim leases up to limit due messages to owner (see ports.MailOutbox).
func (o *Outbox) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]domain.OutboxMail, error) {
	at := dbTime(now)
	var rows []outboxRow
	err := runTx(ctx, o.db, func(ctx context.Context, tx bun.Tx) error {
		rows = nil
		var ids []string
		q := tx.NewSelect().Model((*outboxRow)(nil)).Column("id").
			Where("status = ?", string(domain.MailPending)).
			Where("next_attempt_at <= ?", at).
			Where("(lease_until IS NULL OR lease_until <= ?)", at).
			OrderExpr("next_attempt_at, id").
			Limit(int64(limit))
		if o.kind != SQLite {
			q = q.For("UPDATE SKIP LOCKED")
		}
		if err := q.Scan(ctx, &ids); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err := tx.NewUpdate().Model((*outboxRow)(nil)).
			Set("lease_owner = ?", owner).
			Set("lease_until = ?", dbTime(now.Add(lease))).
			Set("attempts = attempts + 1").
			Set("updated_at = ?", at).
			Where("id IN (?)", bun.In(ids)).
			Exec(ctx)
		if err != nil {
			return err
		}
		return tx.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids)).OrderExpr("next_attempt_at, id").Scan(ctx)
	})
	if err != nil {
		return nil, translate("claim mail", err)
	}
	out := make([]domain.OutboxMail, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// Prepare stores m's link, its expiry and name and creates t in one transaction, under owner's
// lease, unless a newer message supersedes m (then the transaction is rolled back).
func (o *Outbox) Prepare(ctx context.Context, owner string, m domain.OutboxMail, t domain.OneTimeToken) error {
	err := runTx(ctx, o.db, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*outboxRow)(nil)).
			Set("link = ?", m.Link).
			Set("link_expires_at = ?", bun.NullTime{Time: dbTime(m.LinkExpiresAt)}). // NULL if zero
			Set("user_id = ?", m.UserID).
			Set("name = ?", truncateUTF8(m.Name, maxMailNameLength)).
			Set("prepared = ?", true).
			Where("id = ?", m.ID).
			Where("lease_owner = ?", owner).
			Where("status = ?", string(domain.MailPending)).
			Exec(ctx)
		if err := leased(res, err); err != nil {
			return err
		}
		if _, err := upsertToken(tx, o.kind, t).Exec(ctx); err != nil {
			return err
		}
		// Checked after the token is written, not before: that write locks the account's token
		// of this purpose until the end of the transaction, so a newer message's Prepare waits
		// for this one to end, and the check sees every message committed before the lock was
		// taken (each statement under READ COMMITTED, and the first plain read under REPEATABLE
		// READ, reads what was committed when it starts).
		superseded, err := supersedes(tx, m).Exists(ctx)
		if err != nil {
			return err
		}
		if superseded {
			return domain.ErrMailSuperseded
		}
		return nil
	})
	return translate("prepare mail", err)
}

// Superseded reports whether a stored message supersedes m (domain.OutboxMail.Supersedes).
func (o *Outbox) Superseded(ctx context.Context, m domain.OutboxMail) (bool, error) {
	exists, err := o.db.NewSelect().Model((*outboxRow)(nil)).Where("id = ?", m.ID).Exists(ctx)
	if err != nil {
		return false, translate("check newer mail", err)
	}
	if !exists {
		return false, fmt.Errorf("check newer mail %s: %w", m.ID, domain.ErrNotFound)
	}
	superseded, err := supersedes(o.db, m).Exists(ctx)
	if err != nil {
		return false, translate("check newer mail", err)
	}
	return superseded, nil
}

// supersedes selects the messages that supersede m: domain.OutboxMail.Supersedes in SQL, against
// m's stored row (me).
func supersedes(db bun.IDB, m domain.OutboxMail) *bun.SelectQuery {
	return db.NewSelect().Model((*outboxRow)(nil)).
		Join("JOIN mail_outbox AS me ON me.id = ?", m.ID).
		Where("mo.kind = me.kind").
		Where("mo.status IN (?)", bun.In([]string{string(domain.MailPending), string(domain.MailSent)})).
		Where("(mo.created_at > me.created_at OR (mo.created_at = me.created_at AND mo.id > me.id))").
		Where("((mo.user_id <> '' AND mo.user_id = ?) OR (mo.user_id = '' AND mo.to_addr = ?))", m.UserID, m.To)
}

// Settle records the outcome of an attempt and releases owner's lease.
func (o *Outbox) Settle(ctx context.Context, id, owner string, s domain.MailSettlement) error {
	q := o.db.NewUpdate().Model((*outboxRow)(nil)).
		Set("status = ?", string(s.Status)).
		Set("last_error = ?", truncateUTF8(s.LastError, maxMailErrorLength)).
		Set("lease_owner = ''").
		Set("lease_until = NULL").
		Set("updated_at = ?", dbTime(s.At)).
		Where("id = ?", id).
		Where("lease_owner = ?", owner).
		Where("status = ?", string(domain.MailPending))
	if s.Status == domain.MailPending {
		q = q.Set("next_attempt_at = ?", dbTime(s.NextAttemptAt))
	} else {
		q = q.Set("link = ''").Set("link_expires_at = NULL")
	}
	res, err := execRetry(ctx, o.db, q)
	return translate("settle mail", leased(res, err))
}

// leased turns an update that matched no row into domain.ErrStale: the lease is gone.
func leased(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("the lease on the message ended: %w", domain.ErrStale)
	}
	return nil
}

// List returns up to q.Limit messages matching q, newest first.
func (o *Outbox) List(ctx context.Context, q domain.OutboxQuery) ([]domain.OutboxMail, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var rows []outboxRow
	sel := o.db.NewSelect().Model(&rows).OrderExpr("created_at DESC, id DESC").Limit(int64(limit))
	if q.Status != "" {
		sel = sel.Where("status = ?", string(q.Status))
	}
	if err := sel.Scan(ctx); err != nil {
		return nil, translate("list mail", err)
	}
	out := make([]domain.OutboxMail, len(rows))
	for i, r := range rows {
		out[i] = r.toDomain()
	}
	return out, nil
}

// Retry makes failed message id pending again, due at now, with its attempts reset and
// unprepared: Settle wiped its link, so the worker must make it a fresh token and link.
func (o *Outbox) Retry(ctx context.Context, id string, now time.Time) error {
	res, err := execRetry(ctx, o.db, o.db.NewUpdate().Model((*outboxRow)(nil)).
		Set("status = ?", string(domain.MailPending)).
		Set("attempts = 0").
		Set("prepared = ?", false).
		Set("link = ''").
		Set("link_expires_at = NULL").
		Set("next_attempt_at = ?", dbTime(now)).
		Set("updated_at = ?", dbTime(now)).
		Where("id = ?", id).
		Where("status = ?", string(domain.MailFailed)))
	if err != nil {
		return translate("retry mail", err)
	}
	return mustAffect("retry mail", res)
}

// Cancel drops userID's pending and failed messages of kind, as of at, in one statement (over
// the index on user_id and kind). Prepare and Settle match only a pending row, so a worker that
// held one's lease writes nothing more on it; a Prepare that committed first has made its token,
// which the caller ends after.
func (o *Outbox) Cancel(ctx context.Context, userID string, kind domain.MailKind, reason string, at time.Time) (int, error) {
	return execCount(ctx, o.db, "cancel mail", o.db.NewUpdate().Model((*outboxRow)(nil)).
		Set("status = ?", string(domain.MailDropped)).
		Set("last_error = ?", truncateUTF8(reason, maxMailErrorLength)).
		Set("lease_owner = ''").
		Set("lease_until = NULL").
		Set("link = ''").
		Set("link_expires_at = NULL").
		Set("updated_at = ?", dbTime(at)).
		Where("user_id = ?", userID).
		Where("kind = ?", string(kind)).
		Where("status IN (?)", bun.In([]string{string(domain.MailPending), string(domain.MailFailed)})))
}

// Purge deletes settled messages (sent, dropped) last updated before before.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int, error) {
	return execCount(ctx, o.db, "purge mail", o.db.NewDelete().Model((*outboxRow)(nil)).
		Where("status IN (?)", bun.In([]string{string(domain.MailSent), string(domain.MailDropped)})).
		Where("updated_at < ?", dbTime(before)))
}
