-- Portcullis schema v5: users.version, for optimistic concurrency. Every update of a user writes
-- "version = version + 1 WHERE id = ? AND version = ?", so a use case that read the user before
-- a concurrent change (an admin's disable) cannot silently undo it. Existing rows start at 1,
-- as new ones do.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
