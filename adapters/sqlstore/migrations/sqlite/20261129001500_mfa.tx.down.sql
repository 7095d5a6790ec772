DROP TABLE challenges;
--bun:split
DROP TABLE recovery_codes;
--bun:split
DROP TABLE mfa_totp;
