package contract

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The session store, rate limiter and challenge store against the master of a Redis Sentinel set
// (PORTCULLIS_TEST_REDIS_SENTINEL_URL, a redis+sentinel:// URL; see
// test/testenv/redis-sentinel.sh).

func TestSessionStoreRedisSentinel(t *testing.T) {
	t.Parallel()
	url := sentinelURL(t)
	SessionStore(t, func(t *testing.T) ports.SessionStore {
		return openRedisSessions(t, url, testenv.RedisSentinelPrefix(t))
	})
}

func TestRateLimiterRedisSentinel(t *testing.T) {
	t.Parallel()
	url := sentinelURL(t)
	RateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return openRedisLimiter(t, url, testenv.RedisSentinelPrefix(t))
	})
}

// sentinelURL returns the test Sentinel URL after checking that it opens a failover client:
// the suites would pass as well against a standalone Redis, which would prove nothing here.
func sentinelURL(t *testing.T) string {
	t.Helper()
	url := testenv.RedisSentinelURL(t)
	if !strings.HasPrefix(url, "redis+sentinel://") && !strings.HasPrefix(url, "rediss+sentinel://") {
		t.Fatalf("%s=%q is not a redis+sentinel:// URL", testenv.RedisSentinelURLVar, url)
	}
	c, err := redisstore.Open(t.Context(), url, redisstore.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer c.Close()
	// go-redis names the single "address" of a client that asks Sentinels for its master so.
	if rc, ok := c.(*redis.Client); !ok || rc.Options().Addr != "FailoverClient" {
		t.Fatalf("open %s: got %T, want a Sentinel failover client", url, c)
	}
	return url
}

func TestChallengesRedisSentinel(t *testing.T) {
	t.Parallel()
	url := sentinelURL(t)
	Challenges(t, func(t *testing.T) ports.Challenges {
		return openRedisStore(t, url, testenv.RedisSentinelPrefix(t), redisstore.NewChallenges)
	})
}
