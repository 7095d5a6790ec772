DROP TABLE IF EXISTS challenges;
--bun:split
DROP TABLE IF EXISTS recovery_codes;
--bun:split
DROP TABLE IF EXISTS mfa_totp;
