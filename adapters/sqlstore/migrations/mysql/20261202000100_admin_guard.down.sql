DROP TABLE IF EXISTS admin_guard;
