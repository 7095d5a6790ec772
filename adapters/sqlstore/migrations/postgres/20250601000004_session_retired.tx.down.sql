ALTER TABLE sessions DROP COLUMN retired;
