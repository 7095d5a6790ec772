-- The mail outbox: every message Portcullis sends is first a row here, written by the request
-- that asks for it, then claimed under a lease by a delivery worker (one at a time, across
-- instances), prepared, sent and settled. link holds a live one-time token until the message
-- is settled, when it is wiped.
CREATE TABLE mail_outbox (
    id              VARCHAR(36)   NOT NULL PRIMARY KEY,
    kind            VARCHAR(32)   NOT NULL,
    to_addr         VARCHAR(254)  NOT NULL,
    user_id         VARCHAR(36)   NOT NULL DEFAULT '',
    name            VARCHAR(255)  NOT NULL DEFAULT '',
    new_email       VARCHAR(254)  NOT NULL DEFAULT '',
    link            VARCHAR(2048) NOT NULL DEFAULT '',
    prepared        BOOLEAN       NOT NULL DEFAULT FALSE,
    status          VARCHAR(16)   NOT NULL,
    attempts        INT           NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP   NOT NULL,
    lease_owner     VARCHAR(64)   NOT NULL DEFAULT '',
    lease_until     TIMESTAMP   NULL,
    last_error      VARCHAR(512)  NOT NULL DEFAULT '',
    created_at      TIMESTAMP   NOT NULL,
    updated_at      TIMESTAMP   NOT NULL
);
--bun:split
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
--bun:split
CREATE INDEX mail_outbox_updated_idx ON mail_outbox (status, updated_at);
