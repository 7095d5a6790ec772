package testenv

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisSentinelURLVar names the Redis Sentinel set for tests: a
// redis+sentinel://host:port,host:port,.../master-name[/db] URL, as test/testenv/redis-sentinel.sh
// start prints it.
const RedisSentinelURLVar = "PORTCULLIS_TEST_REDIS_SENTINEL_URL"

// RedisSentinelURL returns the redis+sentinel:// URL of the Sentinel set for tests
// (PORTCULLIS_TEST_REDIS_SENTINEL_URL), or skips the test as Lookup does.
func RedisSentinelURL(t testing.TB) string {
	t.Helper()
	return Lookup(t, RedisSentinelURLVar)
}

// RedisSentinelPrefix is RedisPrefix for the master of RedisSentinelURL: the cleanup deletes
// the prefix's keys on the master the Sentinels name.
func RedisSentinelPrefix(t testing.TB) string {
	t.Helper()
	o, err := failoverOptions(RedisSentinelURL(t))
	if err != nil {
		t.Fatalf("%s: %v", RedisSentinelURLVar, err)
	}
	return redisPrefix(t, redis.NewFailoverClient(o))
}

// failoverOptions reads the parts of a redis+sentinel:// or rediss+sentinel:// URL a test
// cleanup needs: Sentinel addresses (port 26379 if none), master name, database, the master's
// user and password, and sentinel_username / sentinel_password from the query. (testenv cannot
// use adapters/redisstore, whose tests import it.)
func failoverOptions(raw string) (*redis.FailoverOptions, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "redis+sentinel" && scheme != "rediss+sentinel") {
		return nil, errors.New("want a redis+sentinel:// or rediss+sentinel:// URL")
	}
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	o := &redis.FailoverOptions{}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		u, err := url.Parse("redis://" + authority[:i+1] + "h")
		if err != nil {
			return nil, errors.New("invalid user or password")
		}
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
		authority = authority[i+1:]
	}
	for _, h := range strings.Split(authority, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if !strings.Contains(h, ":") {
			h += ":26379"
		}
		o.SentinelAddrs = append(o.SentinelAddrs, h)
	}
	if len(o.SentinelAddrs) == 0 {
		return nil, errors.New("no sentinel host:port")
	}
	master, db, _ := strings.Cut(strings.Trim(path, "/"), "/")
	if master == "" {
		return nil, errors.New("no master name in the path")
	}
	o.MasterName = master
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil {
			return nil, fmt.Errorf("invalid database number %q", db)
		}
		o.DB = n
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("invalid query")
	}
	o.SentinelUsername, o.SentinelPassword = q.Get("sentinel_username"), q.Get("sentinel_password")
	if scheme == "rediss+sentinel" {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: q.Get("skip_verify") == "true"}
	}
	return o, nil
}
