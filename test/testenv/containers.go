package testenv

// The testcontainers path: when a PORTCULLIS_TEST_* URL is unset and a Docker engine answers,
// the service is started in a container instead of the test skipping.
//
//   - One container per service per test binary (each `go test` package is its own binary),
//     started on first use and shared by every test of that binary; each test still gets its own
//     fresh database or key prefix on it, exactly as with a URL.
//   - Nothing here terminates the containers: a package's TestMain would be needed for that,
//     and testenv has none to offer. testcontainers' reaper (Ryuk, on by default) removes every
//     container of a session once the test binary that started it exits or dies. With
//     TESTCONTAINERS_RYUK_DISABLED=true they outlive the run: remove them with
//     `docker rm -f $(docker ps -q --filter label=org.testcontainers=true)`.
//   - Docker is probed once per binary with a short timeout; with no engine the test skips with
//     a one-line reason, or fails under PORTCULLIS_TEST_REQUIRE_SERVICES=1, as with no URL.
//   - A container that fails to start fails the test: Docker was there, so it is a real fault.
//   - The Redis Cluster (PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS) has no container; it comes from
//     the variable (see redis-cluster.sh and .ci/run) or the test skips.

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcmysql "github.com/testcontainers/testcontainers-go/modules/mysql"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Images of the containers; the versions match what the suites run against in CI (.ci/run)
// and in docker-compose.yml.
const (
	MySQLImage    = "mysql:8.4"
	PostgresImage = "postgres:17-alpine"
	RedisImage    = "redis:7-alpine"
)

// containerStartTimeout bounds pulling an image and waiting for the service to be ready.
const containerStartTimeout = 5 * time.Minute

// dockerProbeTimeout bounds asking the Docker engine whether it is there.
const dockerProbeTimeout = 3 * time.Second

var (
	dockerOnce sync.Once
	dockerErr  error
)

// dockerAnswers reports whether a Docker engine answers, asking once per test binary.
func dockerAnswers() (err error) {
	dockerOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil { // testcontainers panics on some broken set-ups
				dockerErr = fmt.Errorf("docker provider: %v", r)
			}
		}()
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			dockerErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), dockerProbeTimeout)
		defer cancel()
		dockerErr = p.Health(ctx) // Health closes the provider
	})
	return dockerErr
}

// container is one service started at most once per test binary.
type container struct {
	once  sync.Once
	url   string
	err   error
	start func(context.Context) (string, error)
}

func (c *container) URL() (string, error) {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), containerStartTimeout)
		defer cancel()
		c.url, c.err = c.start(ctx)
	})
	return c.url, c.err
}

// containers maps each service variable to the container that stands in for it.
var containers = map[string]*container{
	MySQLURLVar:    {start: startMySQL},
	PostgresURLVar: {start: startPostgres},
	RedisURLVar:    {start: startRedis},
}

// lookupOrStart returns the service URL from the variable name; when it is unset, from a
// container if Docker answers; otherwise it skips the test (fails it when services are
// required) with a one-line reason.
func lookupOrStart(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	c, ok := containers[name]
	if !ok {
		return Lookup(t, name)
	}
	if err := dockerAnswers(); err != nil {
		reason := fmt.Sprintf("%s is unset and no Docker engine answers (%s)", name, firstLine(err))
		if os.Getenv(RequireServicesVar) == "1" {
			t.Fatalf("%s; %s=1", reason, RequireServicesVar)
		}
		t.Skipf("%s; set it, or start Docker, to run against a real service", reason)
	}
	u, err := c.URL()
	if err != nil {
		t.Fatalf("%s is unset and its container did not start: %v", name, err)
	}
	return u
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// startMySQL runs MySQL 8 with a root password, and returns a server URL without a database
// (the form PORTCULLIS_TEST_MYSQL_URL takes).
func startMySQL(ctx context.Context) (string, error) {
	const password = "portcullis-test"
	c, err := tcmysql.Run(ctx, MySQLImage,
		tcmysql.WithUsername("root"), tcmysql.WithPassword(password), tcmysql.WithDatabase("portcullis"))
	if err != nil {
		return "", fmt.Errorf("start %s: %w", MySQLImage, err)
	}
	hostPort, err := c.PortEndpoint(ctx, "3306/tcp", "")
	if err != nil {
		return "", fmt.Errorf("%s port: %w", MySQLImage, err)
	}
	return (&url.URL{Scheme: "mysql", User: url.UserPassword("root", password), Host: hostPort, Path: "/"}).String(), nil
}

// startPostgres runs PostgreSQL and returns a URL of its maintenance database (the form
// PORTCULLIS_TEST_POSTGRES_URL takes).
func startPostgres(ctx context.Context) (string, error) {
	c, err := tcpostgres.Run(ctx, PostgresImage,
		tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("portcullis-test"),
		tcpostgres.WithDatabase("postgres"), tcpostgres.BasicWaitStrategies())
	if err != nil {
		return "", fmt.Errorf("start %s: %w", PostgresImage, err)
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", fmt.Errorf("%s URL: %w", PostgresImage, err)
	}
	return u, nil
}

// startRedis runs a standalone Redis and returns its redis://host:port/0 URL.
func startRedis(ctx context.Context) (string, error) {
	c, err := tcredis.Run(ctx, RedisImage)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", RedisImage, err)
	}
	hostPort, err := c.PortEndpoint(ctx, "6379/tcp", "")
	if err != nil {
		return "", fmt.Errorf("%s port: %w", RedisImage, err)
	}
	if _, _, err := net.SplitHostPort(hostPort); err != nil {
		return "", fmt.Errorf("%s address %q: %w", RedisImage, hostPort, err)
	}
	return "redis://" + hostPort + "/0", nil
}
