-- One-time tokens (email verification, password reset), stored as the SHA-256 of the token.
-- A user holds at most one token per purpose: a new one replaces it (unique user_id, purpose).
-- MySQL DDL is not transactional, so the statement is idempotent enough to re-run.
CREATE TABLE IF NOT EXISTS one_time_tokens (
    hash       VARBINARY(32) NOT NULL PRIMARY KEY,
    user_id    VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    purpose    VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at DATETIME(6)   NOT NULL,
    expires_at DATETIME(6)   NOT NULL,
    UNIQUE KEY one_time_tokens_user_id_purpose_key (user_id, purpose),
    KEY one_time_tokens_expires_at_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
