// Package sqlstore is the SQL adapter of Portcullis, built on Bun. It keeps users, token-signing
// keys and (when PORTCULLIS_SESSION_STORE=sql) sessions in one database, chosen by the scheme of
// PORTCULLIS_DATABASE_URL: SQLite (the embedded default, pure Go), MySQL/MariaDB (the primary
// production database) or PostgreSQL.
//
// Open connects and Migrate applies the embedded, versioned schema migrations (one directory of
// SQL files per dialect). Users, Sessions and Keys implement ports.UserStore, ports.SessionStore
// and ports.KeyStore; statements that must be atomic together run in one transaction (runTx).
// Driver errors are translated at this edge: unique violations become
// domain.ErrConflict, missing rows domain.ErrNotFound, and errors that mean the database cannot be
// reached are wrapped with domain.ErrUnavailable.
//
// Row structs with bun tags live in model.go; the domain types carry no tags. Module and
// SessionsModule wire the package into the fx graph built by cmd/portcullis.
package sqlstore
