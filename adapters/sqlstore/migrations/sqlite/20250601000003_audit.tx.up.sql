-- Portcullis schema v3: the audit trail, and the index behind the administrator's user list
-- (keyset pages in (created_at, id) order). Audit ids are time-ordered UUIDv7 text compared byte
-- for byte (BINARY), so ORDER BY id DESC is newest first.
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
--bun:split
CREATE TABLE audit_events (
    id         VARCHAR(36)   NOT NULL PRIMARY KEY,
    time       TIMESTAMP     NOT NULL,
    event      VARCHAR(64)   NOT NULL,
    actor_id   VARCHAR(36)   NOT NULL DEFAULT '',
    subject_id VARCHAR(36)   NOT NULL DEFAULT '',
    ip         VARCHAR(64)   NOT NULL DEFAULT '',
    user_agent VARCHAR(512)  NOT NULL DEFAULT '',
    outcome    VARCHAR(64)   NOT NULL DEFAULT '',
    detail     VARCHAR(1024) NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX audit_events_subject_id_idx ON audit_events (subject_id, id);
--bun:split
CREATE INDEX audit_events_actor_id_idx ON audit_events (actor_id, id);
--bun:split
CREATE INDEX audit_events_event_idx ON audit_events (event, id);
