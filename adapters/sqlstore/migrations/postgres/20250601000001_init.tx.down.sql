DROP TABLE signing_keys;
--bun:split
DROP TABLE sessions;
--bun:split
DROP TABLE users;
