-- Passkeys: each user's WebAuthn credentials. credential_id is the authenticator's id of the
-- credential (unique among all users); credential is the relying party's record of it (public
-- key, flags, attestation) as the WebAuthn adapter encodes it; sign_count the authenticator's
-- signature counter as last seen.
CREATE TABLE passkeys (
    id            VARCHAR(36) NOT NULL PRIMARY KEY,
    user_id       VARCHAR(36) NOT NULL,
    credential_id BYTEA       NOT NULL,
    name          VARCHAR(64) NOT NULL,
    sign_count    BIGINT      NOT NULL DEFAULT 0,
    credential    BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ NULL,
    CONSTRAINT passkeys_credential_id_key UNIQUE (credential_id)
);
--bun:split
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);
