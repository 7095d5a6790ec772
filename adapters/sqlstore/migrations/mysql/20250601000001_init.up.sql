-- Portcullis schema v1: users, sessions, signing keys. Times are DATETIME(6) in UTC (the
-- connection runs with time_zone '+00:00'). Identifiers and emails compare byte for byte
-- (utf8mb4_bin): callers normalise them, as on SQLite and PostgreSQL. MySQL DDL is not
-- transactional, so each statement is idempotent enough to re-run after a partial failure.
CREATE TABLE IF NOT EXISTS users (
    id             VARCHAR(36)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    email          VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    email_verified BOOLEAN      NOT NULL DEFAULT FALSE,
    username       VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    name           VARCHAR(255) NOT NULL DEFAULT '',
    roles          VARCHAR(255) NOT NULL DEFAULT '',
    password_hash  VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
    disabled       BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at     DATETIME(6)  NOT NULL,
    updated_at     DATETIME(6)  NOT NULL,
    UNIQUE KEY users_email_key (email),
    UNIQUE KEY users_username_key (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
--bun:split
CREATE TABLE IF NOT EXISTS sessions (
    id              VARCHAR(64)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id         VARCHAR(36)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    roles           VARCHAR(255)   NOT NULL DEFAULT '',
    refresh_hash    VARBINARY(64)  NOT NULL,
    prev_hash       VARBINARY(64)  NULL,
    successor       VARBINARY(1024) NULL,
    rotated_at      DATETIME(6)    NULL,
    generation      INT            NOT NULL DEFAULT 0,
    created_at      DATETIME(6)    NOT NULL,
    last_used_at    DATETIME(6)    NOT NULL,
    idle_expires_at DATETIME(6)    NOT NULL,
    abs_expires_at  DATETIME(6)    NOT NULL,
    ip              VARCHAR(64)    NOT NULL DEFAULT '',
    user_agent      VARCHAR(512)   NOT NULL DEFAULT '',
    KEY sessions_user_id_idx (user_id, created_at),
    KEY sessions_idle_expires_at_idx (idle_expires_at),
    KEY sessions_abs_expires_at_idx (abs_expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
--bun:split
CREATE TABLE IF NOT EXISTS signing_keys (
    id         VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    algorithm  VARCHAR(16) NOT NULL,
    private    BLOB        NOT NULL,
    created_at DATETIME(6) NOT NULL,
    retired_at DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
