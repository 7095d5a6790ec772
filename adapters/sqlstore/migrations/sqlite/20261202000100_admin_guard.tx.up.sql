-- The admin guard: one row that every change which may take away an enabled admin (a demotion,
-- a disable, a delete) writes first, in the transaction that counts the other enabled admins and
-- writes the change (Users.UpdateUnlessLastAdmin, DeleteUnlessLastAdmin). Two such changes
-- therefore never count at once (the second waits for the first's row lock; SQLite runs one
-- write transaction at a time anyway), and so "the last admin stays" holds under concurrency.
CREATE TABLE admin_guard (
    id    INTEGER NOT NULL PRIMARY KEY,
    taken BIGINT  NOT NULL DEFAULT 0
);
--bun:split
INSERT INTO admin_guard (id, taken) VALUES (1, 0);
