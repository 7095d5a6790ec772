package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURL returns the standalone Redis for tests (PORTCULLIS_TEST_REDIS_URL, e.g.
// redis://127.0.0.1:6379/0); with it unset, a container when a Docker engine answers
// (containers.go); else it skips the test as Lookup does.
func RedisURL(t testing.TB) string {
	t.Helper()
	return lookupOrStart(t, RedisURLVar)
}

// RedisClusterAddrs returns the seed nodes of the Redis Cluster for tests
// (PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS, comma-separated host:port), or skips the test as
// Lookup does.
func RedisClusterAddrs(t testing.TB) []string {
	t.Helper()
	var addrs []string
	for _, a := range strings.Split(Lookup(t, RedisClusterVar), ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// RedisPrefix returns a key prefix unique to this call, for a store under test on the
// standalone Redis of RedisURL, and registers a cleanup that deletes every key under it.
func RedisPrefix(t testing.TB) string {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("%s: %v", RedisURLVar, err)
	}
	return redisPrefix(t, redis.NewClient(opts))
}

// RedisClusterPrefix is RedisPrefix for the cluster of RedisClusterAddrs: the cleanup scans
// every master.
func RedisClusterPrefix(t testing.TB) string {
	t.Helper()
	return redisPrefix(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: RedisClusterAddrs(t)}))
}

// redisPrefix makes a prefix of random hex (no glob or hash-tag characters, so it is safe in
// SCAN MATCH and in keys with hash tags) and deletes its keys at cleanup with c, which it then
// closes.
func redisPrefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "portcullis-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		del := func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, prefix+"*", 500).Iterator()
			var batch []string
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				// One DEL per key: in a cluster, keys of one node may still be in different slots.
				_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range batch {
						p.Unlink(ctx, k)
					}
					return nil
				})
				batch = batch[:0]
				return err
			}
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == 500 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := iter.Err(); err != nil {
				return err
			}
			return flush()
		}
		var err error
		switch cc := c.(type) {
		case *redis.ClusterClient:
			err = cc.ForEachMaster(ctx, del)
		case *redis.Client:
			err = del(ctx, cc)
		}
		if err != nil {
			t.Errorf("clean Redis keys under %s: %v", prefix, err)
		}
	})
	return prefix
}
