-- The admin guard: one row that every change which may take away an enabled admin (a demotion,
-- a disable, a delete) writes first, in the transaction that counts the other enabled admins and
-- writes the change (Users.UpdateUnlessLastAdmin, DeleteUnlessLastAdmin). Two such changes
-- therefore never count at once: the second waits for the first's row lock, or on MariaDB
-- Galera Cluster loses certification on the row and runs again, and so "the last admin stays"
-- holds under concurrency. MySQL DDL is not transactional, so each statement is idempotent
-- enough to re-run after a partial failure.
CREATE TABLE IF NOT EXISTS admin_guard (
    id    INT    NOT NULL PRIMARY KEY,
    taken BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB;
--bun:split
INSERT IGNORE INTO admin_guard (id, taken) VALUES (1, 0);
