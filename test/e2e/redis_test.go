package e2e

import (
	"context"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestH56_RedisFlushedMeansLoggedOut: when the session store loses its data, every token of a
// lost session is refused (a missing session means logged out, never a pass), and users can
// simply log in again.
func TestH56_RedisFlushedMeansLoggedOut(t *testing.T) {
	var mysqlRedis backend
	for _, b := range backends() {
		if b.name == "mysql-redis" {
			mysqlRedis = b
		}
	}
	env := mysqlRedis.env(t)
	srv := startServer(t, env)
	api := srv.apiClient().in(t)
	a := api.register(t)
	tok := api.login(t, a)
	if s := api.meStatus(tok.AccessToken); s != http.StatusOK {
		t.Fatalf("me before the flush: %d", s)
	}

	// Flush this test's keys, as a Redis restart without persistence would.
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, env[redisPrefixVar]+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil || len(keys) == 0 {
		t.Fatalf("scan the session keys: %v (found %d)", err, len(keys))
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}

	if s := api.meStatus(tok.AccessToken); s != http.StatusUnauthorized {
		t.Fatalf("access token of a lost session: %d, want 401", s)
	}
	api.refresh(tok.RefreshToken).expectProblem(http.StatusUnauthorized, "invalid_refresh_token")
	again := api.login(t, a)
	if s := api.meStatus(again.AccessToken); s != http.StatusOK {
		t.Fatalf("a new login after the flush: %d", s)
	}
}
