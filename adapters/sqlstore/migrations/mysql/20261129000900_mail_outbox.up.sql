-- The mail outbox: every message Portcullis sends is first a row here, written by the request
-- that asks for it, then claimed under a lease by a delivery worker (one at a time, across
-- instances, with FOR UPDATE SKIP LOCKED), prepared, sent and settled. link holds a live
-- one-time token until the message is settled, when it is wiped. One statement per migration
-- step, each re-runnable (MySQL DDL is not transactional).
CREATE TABLE IF NOT EXISTS mail_outbox (
    id              VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    kind            VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    to_addr         VARCHAR(254)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    user_id         VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    name            VARCHAR(255)  NOT NULL DEFAULT '',
    new_email       VARCHAR(254)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    link            VARCHAR(2048) NOT NULL DEFAULT '',
    prepared        BOOLEAN       NOT NULL DEFAULT FALSE,
    status          VARCHAR(16)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    attempts        INT           NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6)   NOT NULL,
    lease_owner     VARCHAR(64)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    lease_until     DATETIME(6)   NULL,
    last_error      VARCHAR(512)  NOT NULL DEFAULT '',
    created_at      DATETIME(6)   NOT NULL,
    updated_at      DATETIME(6)   NOT NULL,
    KEY mail_outbox_due_idx (status, next_attempt_at),
    KEY mail_outbox_updated_idx (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
