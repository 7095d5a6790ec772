-- Nothing on this engine: the change notifications of this migration are PostgreSQL's (see the
-- postgres directory); the migration ids stay the same on every engine.
SELECT 1;
