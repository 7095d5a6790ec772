// Package e2e is Portcullis's black-box end-to-end suite. Each test builds the whole service
// exactly as the binary does (config.LoadFrom with app.Parsers → app.Options → fx), listens on a free loopback
// port, and talks to it over real HTTP with a cookie jar, checking statuses, problem+json codes,
// headers and cookies. Nothing below the HTTP surface is touched, except where a check needs to
// see what is stored (the password hash in the SQLite file) or what is logged (every log line
// is captured for the log-secrecy test).
//
// The package holds no production code; everything else is in _test.go files.
//
// By default every test runs on the embedded SQLite database (sessions in SQL, and the full
// flow once more with in-memory sessions); tests that need MySQL, PostgreSQL or Redis skip with
// a one-line reason. To run them against real services, name them with the testenv variables:
//
//	PORTCULLIS_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/ \
//	PORTCULLIS_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' \
//	PORTCULLIS_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS=$(bash test/testenv/redis-cluster.sh start | tail -1) \
//	PORTCULLIS_TEST_REQUIRE_SERVICES=1 \
//	go test -race ./test/e2e/
//
// Each test gets a fresh database (testenv.MySQLURL, testenv.PostgresURL) and a fresh Redis
// key prefix, dropped or deleted when it ends. With PORTCULLIS_TEST_REQUIRE_SERVICES=1 a missing
// service fails the test instead of skipping it.
//
// The heavy full-flow test runs on every backend; the many detailed cases run on the default
// SQLite backend only, to keep the package well under a minute on two cores with -race
// (each argon2id hash costs tens of milliseconds, so the tests register as few users as they can).
package e2e
