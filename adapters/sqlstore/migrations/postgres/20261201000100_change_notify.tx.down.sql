DROP TRIGGER users_notify_truncate ON users;
DROP TRIGGER users_notify_change ON users;
DROP TRIGGER sessions_notify_truncate ON sessions;
DROP TRIGGER sessions_notify_change ON sessions;
DROP FUNCTION portcullis_notify_change();
