package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// LimiterModule provides *RateLimiter as the ports.RateLimiter. It needs Module (for the
// redis.UniversalClient and the Config, whose Prefix it shares); cmd/portcullis includes both
// when PORTCULLIS_SESSION_STORE is a Redis URL.
var LimiterModule = fx.Module("redisstore-limiter",
	fx.Provide(fx.Annotate(newModuleLimiter, fx.As(new(ports.RateLimiter)))),
)

func newModuleLimiter(c redis.UniversalClient, cfg Config) (*RateLimiter, error) {
	return NewRateLimiter(c, cfg.Prefix)
}

// rateLimitKeyPart names the rate-limit keys:
//
//	<prefix>rl:{<key>}    STRING  the key's theoretical arrival time, Unix microseconds of the
//	                              Redis server's clock; PEXPIRE = until the bucket is full again
//
// The caller's key is the hash tag, so the whole key (one key per script) sits in one slot. A
// caller's key holding '{' or '}' moves the tag but still names exactly one key.
const rateLimitKeyPart = "rl:"

// rateLimit is the Redis key of the limiter state of key.
func (k keys) rateLimit(key string) string {
	return k.prefix + rateLimitKeyPart + "{" + key + "}"
}

// gcraScript is one GCRA step (the generic cell rate algorithm, as in go-redis/redis_rate and
// redis-cell), atomic on one key. Times are the Redis server's clock in whole microseconds, so
// every instance shares one clock per key and the arithmetic is exact (Unix microseconds stay
// far below 2^53); the emission interval is rounded down by the caller so that Burst hits at
// once always fit. Refused hits change nothing.
//
//	KEYS[1] rate-limit key; ARGV[1] emission interval (µs); ARGV[2] burst offset = interval ×
//	burst (µs); ARGV[3] n.
//	returns {1, remaining, µs until one more hit fits} allowed, or {0, retry_after_µs, 0} refused.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
local allow_at = new_tat - tonumber(ARGV[2])
if allow_at > now then return {0, allow_at - now, 0} end
local ttl = math.ceil((new_tat - now) / 1000)
if ttl > 0 then redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl) end
local next_at = allow_at + interval - now
if next_at < 0 then next_at = 0 end
return {1, math.floor((now - allow_at) / interval), next_at}
`)

// RateLimiter is a ports.RateLimiter on Redis (standalone, Sentinel or Cluster), shared by every
// instance: one Lua GCRA script per Allow, on one key that expires once its bucket is full
// again, so idle keys cost no memory. Errors wrap domain.ErrUnavailable; the limiter never
// fails open. Safe for concurrent use.
type RateLimiter struct {
	client redis.UniversalClient
	keys   keys
}

var _ ports.RateLimiter = (*RateLimiter)(nil)

// NewRateLimiter returns a limiter on client whose keys all start with prefix (which must not
// contain '{' or '}').
func NewRateLimiter(client redis.UniversalClient, prefix string) (*RateLimiter, error) {
	k, err := newKeys(prefix)
	if err != nil {
		return nil, err
	}
	return &RateLimiter{client: client, keys: k}, nil
}

// Allow records n hits on key under limit if all n fit, and reports the outcome. Hits that do
// not fit are not recorded. When refused, RetryAfter is how long until n hits fit (for n = 1:
// until one more hit is allowed); n larger than limit.Burst never fits. When allowed,
// RetryAfter is how long until one more hit would fit (zero while Remaining > 0), so n = 0
// reports the state of key (Remaining, and the wait when it is 0) without recording anything. An invalid limit (Burst < 1, Period shorter than Burst microseconds) or a negative
// n is an error that is not domain.ErrUnavailable.
func (l *RateLimiter) Allow(ctx context.Context, key string, limit ports.RateLimit, n int) (ports.RateResult, error) {
	if limit.Burst < 1 {
		return ports.RateResult{}, fmt.Errorf("rate limit %s: invalid burst %d, want at least 1", key, limit.Burst)
	}
	interval := limit.Period.Microseconds() / int64(limit.Burst)
	if interval < 1 {
		return ports.RateResult{}, fmt.Errorf("rate limit %s: period %s is too short for burst %d", key, limit.Period, limit.Burst)
	}
	if n < 0 {
		return ports.RateResult{}, fmt.Errorf("rate limit %s: %w", key, errors.New("negative number of hits"))
	}
	res, err := gcraScript.Run(ctx, l.client, []string{l.keys.rateLimit(key)},
		interval, interval*int64(limit.Burst), n).Int64Slice()
	if err != nil {
		return ports.RateResult{}, unavailable("rate limit", err)
	}
	if len(res) != 3 {
		return ports.RateResult{}, unavailable("rate limit", fmt.Errorf("unexpected script reply %v", res))
	}
	if res[0] == 1 {
		return ports.RateResult{Allowed: true, Remaining: int(res[1]), RetryAfter: time.Duration(res[2]) * time.Microsecond}, nil
	}
	return ports.RateResult{RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

// Reset forgets key: its next hit finds a full bucket.
func (l *RateLimiter) Reset(ctx context.Context, key string) error {
	if err := l.client.Del(ctx, l.keys.rateLimit(key)).Err(); err != nil {
		return unavailable("reset rate limit", err)
	}
	return nil
}
