DROP TABLE IF EXISTS signing_keys;
--bun:split
DROP TABLE IF EXISTS sessions;
--bun:split
DROP TABLE IF EXISTS users;
