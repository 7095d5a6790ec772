-- Passkeys: each user's WebAuthn credentials. credential_id is the authenticator's id of the
-- credential (unique among all users); credential is the relying party's record of it (public
-- key, flags, attestation) as the WebAuthn adapter encodes it; sign_count the authenticator's
-- signature counter as last seen.
CREATE TABLE passkeys (
    id            VARCHAR(36) NOT NULL PRIMARY KEY,
    user_id       VARCHAR(36) NOT NULL,
    credential_id BLOB        NOT NULL,
    name          VARCHAR(64) NOT NULL,
    sign_count    BIGINT      NOT NULL DEFAULT 0,
    credential    BLOB        NOT NULL,
    created_at    TIMESTAMP   NOT NULL,
    last_used_at  TIMESTAMP   NULL
);
--bun:split
CREATE UNIQUE INDEX passkeys_credential_id_key ON passkeys (credential_id);
--bun:split
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);
