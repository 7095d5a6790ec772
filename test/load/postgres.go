package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// The matrix's postgres store: users and sessions in a PostgreSQL database made for the run on the
// server named by -postgres (loopback only), dropped when the store's cells are done.

// checkPostgresURL refuses a -postgres URL that does not name a loopback server.
func checkPostgresURL(raw string) error {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return fmt.Errorf("-postgres: %w", err)
	}
	if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !isLoopback(ip)) {
		return fmt.Errorf("-postgres: %s is not loopback", cfg.Host)
	}
	return nil
}

// createPostgresDatabase creates a database of its own for one server on the server at raw and
// returns its URL and a function that drops it.
func createPostgresDatabase(ctx context.Context, raw string) (string, func(), error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("-postgres: %w", err)
	}
	name := "portcullis_load_" + randomHex(6)
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, raw)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", nil, fmt.Errorf("create the run's database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = admin(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	}
	return u.String(), drop, nil
}
