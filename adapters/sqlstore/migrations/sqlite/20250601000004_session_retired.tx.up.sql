-- Portcullis schema v4: sessions.retired, the ring of the session's older retired refresh-token
-- hashes (concatenated 32-byte SHA-256 hashes, newest first, at most 16 = 512 bytes; NULL until
-- the second rotation). Rotate revokes a session only for a token it really issued (current,
-- predecessor or in this ring); any other token is refused and changes nothing.
ALTER TABLE sessions ADD COLUMN retired BLOB;
