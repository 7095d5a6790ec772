package contract

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestRateLimiterMemory(t *testing.T) {
	t.Parallel()
	RateLimiter(t, func(t *testing.T) ports.RateLimiter { return memstore.NewRateLimiter(nil) })
}

func TestRateLimiterRedis(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	RateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return openRedisLimiter(t, url, testenv.RedisPrefix(t))
	})
}

func TestRateLimiterRedisCluster(t *testing.T) {
	t.Parallel()
	url := "redis+cluster://" + strings.Join(testenv.RedisClusterAddrs(t), ",")
	RateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return openRedisLimiter(t, url, testenv.RedisClusterPrefix(t))
	})
}

func openRedisLimiter(t *testing.T, url, prefix string) ports.RateLimiter {
	t.Helper()
	c, err := redisstore.Open(t.Context(), url, redisstore.Options{PoolSize: 64})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, ok := c.(*redis.ClusterClient); ok != strings.Contains(url, "+cluster") {
		t.Fatalf("open %s: got %T", url, c)
	}
	l, err := redisstore.NewRateLimiter(c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
