-- Portcullis schema v1: users, sessions, signing keys. Times are TIMESTAMPTZ (microseconds, UTC).
CREATE TABLE users (
    id             VARCHAR(36)  NOT NULL PRIMARY KEY,
    email          VARCHAR(254) NOT NULL,
    email_verified BOOLEAN      NOT NULL DEFAULT FALSE,
    username       VARCHAR(32),
    name           VARCHAR(255) NOT NULL DEFAULT '',
    roles          VARCHAR(255) NOT NULL DEFAULT '',
    password_hash  VARCHAR(255) NOT NULL DEFAULT '',
    disabled       BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ  NOT NULL,
    updated_at     TIMESTAMPTZ  NOT NULL
);
--bun:split
CREATE UNIQUE INDEX users_email_key ON users (email);
--bun:split
CREATE UNIQUE INDEX users_username_key ON users (username);
--bun:split
CREATE TABLE sessions (
    id              VARCHAR(64)  NOT NULL PRIMARY KEY,
    user_id         VARCHAR(36)  NOT NULL,
    roles           VARCHAR(255) NOT NULL DEFAULT '',
    refresh_hash    BYTEA        NOT NULL,
    prev_hash       BYTEA,
    successor       BYTEA,
    rotated_at      TIMESTAMPTZ,
    generation      INTEGER      NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ  NOT NULL,
    last_used_at    TIMESTAMPTZ  NOT NULL,
    idle_expires_at TIMESTAMPTZ  NOT NULL,
    abs_expires_at  TIMESTAMPTZ  NOT NULL,
    ip              VARCHAR(64)  NOT NULL DEFAULT '',
    user_agent      VARCHAR(512) NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX sessions_user_id_idx ON sessions (user_id, created_at);
--bun:split
CREATE INDEX sessions_idle_expires_at_idx ON sessions (idle_expires_at);
--bun:split
CREATE INDEX sessions_abs_expires_at_idx ON sessions (abs_expires_at);
--bun:split
CREATE TABLE signing_keys (
    id         VARCHAR(64) NOT NULL PRIMARY KEY,
    algorithm  VARCHAR(16) NOT NULL,
    private    BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);
