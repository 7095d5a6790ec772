package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portcullis-auth/portcullis/adapters/internal/urlerr"
)

// isUnknownDatabase reports whether err says the server answers but has no database of the
// URL's name (MySQL 1049, PostgreSQL 3D000).
func isUnknownDatabase(err error) bool {
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1049 // ER_BAD_DB_ERROR
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "3D000" // invalid_catalog_name
	}
	return false
}

// createDatabase creates the database the URL names, on a server that answers without it, so
// that pointing Portcullis at a fresh MySQL or PostgreSQL server is enough. It connects to the
// server itself (MySQL: no default database; PostgreSQL: the postgres maintenance database).
func createDatabase(ctx context.Context, rawURL string, opts Options) error {
	kind, err := kindOf(rawURL)
	if err != nil {
		return err
	}
	switch kind {
	case MySQL:
		withDB, cfg, err := mysqlConnector(rawURL, opts)
		if err != nil {
			return err
		}
		name := cfg.DBName
		cfg.DBName = ""
		conn, err := newFailoverConnector(cfg, withDB.hosts)
		if err != nil {
			return err
		}
		return execOnce(ctx, sql.OpenDB(conn), "CREATE DATABASE IF NOT EXISTS "+quoteIdent(name, '`')+" CHARACTER SET utf8mb4", name)
	case Postgres:
		u, err := url.Parse(rawURL)
		if err != nil {
			return fmt.Errorf("sqlstore: invalid PostgreSQL URL: %w", urlerr.Scrub(err))
		}
		name := strings.TrimPrefix(u.Path, "/")
		u.Path = "/postgres"
		dsn, err := postgresDSN(u.String(), opts.ConnectTimeout, opts.TLSCAFile)
		if err != nil {
			return err
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return err
		}
		err = execOnce(ctx, db, "CREATE DATABASE "+quoteIdent(name, '"'), name)
		if anotherCreated(err) {
			return nil
		}
		return err
	}
	return fmt.Errorf("sqlstore: cannot create a %s database", kind)
}

// anotherCreated reports whether PostgreSQL refused a CREATE DATABASE because another session
// created the database: duplicate_database (42P04) when that one had committed before, or, when
// both ran at once, unique_violation (23505) on pg_database's index of names, which is what
// instances started together on a fresh server meet.
func anotherCreated(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == "42P04" || pg.Code == "23505")
}

func execOnce(ctx context.Context, db *sql.DB, stmt, name string) error {
	defer db.Close()
	if name == "" {
		return errors.New("sqlstore: the database URL names no database")
	}
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// quoteIdent quotes a database name; names holding the quote character are refused by
// doubling it, as both engines read a doubled quote as one literal quote.
func quoteIdent(name string, q byte) string {
	return string(q) + strings.ReplaceAll(name, string(q), string(q)+string(q)) + string(q)
}
