-- The indexes behind a delivery worker's question before it makes a message's token: is a newer
-- message of the same kind for the same account (by user id, or by address when it was queued
-- by the address alone) pending or sent?
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id, kind);
--bun:split
CREATE INDEX mail_outbox_to_idx ON mail_outbox (to_addr, user_id, kind);
