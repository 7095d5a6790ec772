-- sessions.amr: how the user authenticated when the session began (RFC 8176 method names joined
-- by commas, e.g. "pwd,otp"), listed with the session and carried into every access token.
ALTER TABLE sessions ADD COLUMN amr VARCHAR(64) NOT NULL DEFAULT '';
