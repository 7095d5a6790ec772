-- Portcullis schema v3: the audit trail, and the index behind the administrator's user list
-- (keyset pages in (created_at, id) order). Audit ids are time-ordered UUIDv7 text compared byte
-- for byte, so ORDER BY id DESC is newest first. The CREATE TABLE is re-runnable; the CREATE
-- INDEX (which MySQL cannot write as IF NOT EXISTS) comes last, so a partial failure re-runs.
CREATE TABLE IF NOT EXISTS audit_events (
    id         VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    time       DATETIME(6)   NOT NULL,
    event      VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    actor_id   VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    subject_id VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    ip         VARCHAR(64)   NOT NULL DEFAULT '',
    user_agent VARCHAR(512)  NOT NULL DEFAULT '',
    outcome    VARCHAR(64)   NOT NULL DEFAULT '',
    detail     VARCHAR(1024) NOT NULL DEFAULT '',
    KEY audit_events_subject_id_idx (subject_id, id),
    KEY audit_events_actor_id_idx (actor_id, id),
    KEY audit_events_event_idx (event, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
--bun:split
CREATE INDEX users_created_at_id_idx ON users (created_at, id);
