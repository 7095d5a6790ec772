-- mail_outbox.link_expires_at: when the one-time token behind link expires (NULL without a
-- link). A delivery attempt that finds too little of the link's lifetime left makes a fresh one.
ALTER TABLE mail_outbox ADD COLUMN link_expires_at TIMESTAMPTZ NULL;
