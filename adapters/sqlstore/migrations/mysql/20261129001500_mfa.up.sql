-- Second factors: each user's TOTP authenticator (secret sealed with the key-encryption key),
-- single-use recovery codes (SHA-256 of each), and short-lived challenges (a login waiting for
-- its second factor, WebAuthn ceremonies; SHA-256 of the token naming each). MySQL DDL is not
-- transactional, so each statement is idempotent enough to re-run after a partial failure.
CREATE TABLE IF NOT EXISTS mfa_totp (
    user_id      VARCHAR(36)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    secret       VARBINARY(255) NOT NULL,
    confirmed    BOOLEAN        NOT NULL DEFAULT FALSE,
    created_at   DATETIME(6)    NOT NULL,
    confirmed_at DATETIME(6)    NULL,
    last_step    BIGINT         NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
--bun:split
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id    VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    hash       VARBINARY(32) NOT NULL,
    created_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (user_id, hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
--bun:split
CREATE TABLE IF NOT EXISTS challenges (
    purpose    VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    hash       VARBINARY(32) NOT NULL,
    user_id    VARCHAR(36)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    data       BLOB          NULL,
    attempts   INT           NOT NULL DEFAULT 0,
    created_at DATETIME(6)   NOT NULL,
    expires_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (purpose, hash),
    KEY challenges_expires_at_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
