ALTER TABLE mail_outbox DROP COLUMN link_expires_at;
