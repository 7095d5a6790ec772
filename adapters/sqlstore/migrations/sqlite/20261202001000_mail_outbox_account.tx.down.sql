DROP INDEX mail_outbox_to_idx;
--bun:split
DROP INDEX mail_outbox_user_idx;
