ALTER TABLE mail_outbox DROP INDEX mail_outbox_user_idx, DROP INDEX mail_outbox_to_idx;
