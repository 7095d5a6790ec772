package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
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
	url := redisClusterURL(t)
	RateLimiter(t, func(t *testing.T) ports.RateLimiter {
		return openRedisLimiter(t, url, testenv.RedisClusterPrefix(t))
	})
}
