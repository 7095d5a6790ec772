-- Second factors: each user's TOTP authenticator (secret sealed with the key-encryption key),
-- single-use recovery codes (SHA-256 of each), and short-lived challenges (a login waiting for
-- its second factor, WebAuthn ceremonies; SHA-256 of the token naming each).
CREATE TABLE mfa_totp (
    user_id      VARCHAR(36) NOT NULL PRIMARY KEY,
    secret       BYTEA NOT NULL,
    confirmed    BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ NULL,
    last_step    BIGINT      NOT NULL DEFAULT 0
);
--bun:split
CREATE TABLE recovery_codes (
    user_id    VARCHAR(36) NOT NULL,
    hash       BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, hash)
);
--bun:split
CREATE TABLE challenges (
    purpose    VARCHAR(32) NOT NULL,
    hash       BYTEA NOT NULL,
    user_id    VARCHAR(36) NOT NULL DEFAULT '',
    data       BYTEA NULL,
    attempts   INTEGER     NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (purpose, hash)
);
--bun:split
CREATE INDEX challenges_expires_at_idx ON challenges (expires_at);
