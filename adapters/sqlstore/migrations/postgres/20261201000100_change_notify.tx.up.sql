-- Every update or delete of a user or session row NOTIFYs portcullis_users or portcullis_sessions
-- with the row's id, and a truncate NOTIFYs the table's channel with an empty payload, whoever
-- writes: this is how each instance's user and session caches learn of a disable, role change,
-- logout, revoke or rotation made elsewhere (sqlstore.Changes). A new row needs no notice:
-- nothing can be cached for an id that did not exist.
CREATE FUNCTION portcullis_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_LEVEL = 'STATEMENT' THEN
		PERFORM pg_notify(TG_ARGV[0], '');
	ELSE
		PERFORM pg_notify(TG_ARGV[0], OLD.id);
		IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
			PERFORM pg_notify(TG_ARGV[0], NEW.id);
		END IF;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER sessions_notify_change AFTER UPDATE OR DELETE ON sessions
	FOR EACH ROW EXECUTE FUNCTION portcullis_notify_change('portcullis_sessions');
CREATE TRIGGER sessions_notify_truncate AFTER TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change('portcullis_sessions');

CREATE TRIGGER users_notify_change AFTER UPDATE OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION portcullis_notify_change('portcullis_users');
CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_change('portcullis_users');
