-- The indexes behind a delivery worker's question before it makes a message's token: is a newer
-- message of the same kind for the same account (by user id, or by address when it was queued
-- by the address alone) pending or sent? One statement, so that a partial failure re-runs.
ALTER TABLE mail_outbox ADD INDEX mail_outbox_user_idx (user_id, kind), ADD INDEX mail_outbox_to_idx (to_addr, user_id, kind);
