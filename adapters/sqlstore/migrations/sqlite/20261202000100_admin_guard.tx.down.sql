DROP TABLE admin_guard;
