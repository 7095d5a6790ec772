-- Passkeys: each user's WebAuthn credentials. credential_id is the authenticator's id of the
-- credential (unique among all users; at most 1023 bytes by the WebAuthn spec); credential is
-- the relying party's record of it (public key, flags, attestation) as the WebAuthn adapter
-- encodes it; sign_count the authenticator's signature counter as last seen.
CREATE TABLE IF NOT EXISTS passkeys (
    id            VARCHAR(36)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    user_id       VARCHAR(36)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    credential_id VARBINARY(1023) NOT NULL,
    name          VARCHAR(64)     NOT NULL,
    sign_count    BIGINT          NOT NULL DEFAULT 0,
    credential    MEDIUMBLOB      NOT NULL,
    created_at    DATETIME(6)     NOT NULL,
    last_used_at  DATETIME(6)     NULL,
    UNIQUE KEY passkeys_credential_id_key (credential_id),
    KEY passkeys_user_id_idx (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
