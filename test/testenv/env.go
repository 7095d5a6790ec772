// Package testenv gives tests real backing services: a fresh MySQL or PostgreSQL database, or a
// Redis key prefix, per test. Services come from PORTCULLIS_TEST_* URLs; when one is unset the
// test skips with a one-line reason, unless PORTCULLIS_TEST_REQUIRE_SERVICES=1, which turns the
// skip into a failure (CI sets it).
package testenv

import (
	"os"
	"testing"
)

// Variables naming the test services.
const (
	MySQLURLVar        = "PORTCULLIS_TEST_MYSQL_URL"
	PostgresURLVar     = "PORTCULLIS_TEST_POSTGRES_URL"
	RedisURLVar        = "PORTCULLIS_TEST_REDIS_URL"
	RedisClusterVar    = "PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS"
	RequireServicesVar = "PORTCULLIS_TEST_REQUIRE_SERVICES"
)

// Lookup returns the value of the service variable name, or skips the test (fails it when
// services are required) with a one-line reason.
func Lookup(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireServicesVar) == "1" {
		t.Fatalf("%s is unset and %s=1", name, RequireServicesVar)
	}
	t.Skipf("%s is unset; set it to run against a real service", name)
	return ""
}
