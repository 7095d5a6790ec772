-- one_time_tokens.new_email: the address an e-mail change token switches to ('' otherwise).
ALTER TABLE one_time_tokens ADD COLUMN new_email VARCHAR(254) NOT NULL DEFAULT '';
