DROP INDEX users_created_at_id_idx ON users;
--bun:split
DROP TABLE IF EXISTS audit_events;
