DROP TABLE audit_events;
--bun:split
DROP INDEX users_created_at_id_idx;
