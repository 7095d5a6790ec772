package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
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
	url := redisClusterURL(t)
	SessionStore(t, func(t *testing.T) ports.SessionStore {
		return openRedisSessions(t, url, testenv.RedisClusterPrefix(t))
	})
}
