-- One-time tokens (email verification, password reset), stored as the SHA-256 of the token.
-- A user holds at most one token per purpose: a new one replaces it (unique user_id, purpose).
CREATE TABLE one_time_tokens (
    hash       BLOB        NOT NULL PRIMARY KEY,
    user_id    VARCHAR(36) NOT NULL,
    purpose    VARCHAR(32) NOT NULL,
    created_at TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP   NOT NULL
);
--bun:split
CREATE UNIQUE INDEX one_time_tokens_user_id_purpose_key ON one_time_tokens (user_id, purpose);
--bun:split
CREATE INDEX one_time_tokens_expires_at_idx ON one_time_tokens (expires_at);
