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

func TestSessionStoreMemory(t *testing.T) {
	t.Parallel()
	SessionStore(t, func(t *testing.T) ports.SessionStore { return memstore.NewSessions() })
}

func TestSessionStoreRedis(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	SessionStore(t, func(t *testing.T) ports.SessionStore {
		return openRedisSessions(t, url, testenv.RedisPrefix(t))
	})
}

func TestSessionStoreRedisCluster(t *testing.T) {
	t.Parallel()
	url := "redis+cluster://" + strings.Join(testenv.RedisClusterAddrs(t), ",")
	SessionStore(t, func(t *testing.T) ports.SessionStore {
		return openRedisSessions(t, url, testenv.RedisClusterPrefix(t))
	})
}

func openRedisSessions(t *testing.T, url, prefix string) ports.SessionStore {
	t.Helper()
	c, err := redisstore.Open(t.Context(), url, redisstore.Options{PoolSize: 64})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, ok := c.(*redis.ClusterClient); ok != strings.Contains(url, "+cluster") {
		t.Fatalf("open %s: got %T", url, c)
	}
	st, err := redisstore.NewSessions(c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
