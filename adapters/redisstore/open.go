package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune the client beyond what the URL says. A zero field keeps the URL's value, or
// go-redis's default when the URL has none.
type Options struct {
	// PoolSize is the number of connections per Redis node (go-redis default: 10 per CPU).
	PoolSize int
	// MinIdleConns keeps this many idle connections per node open.
	MinIdleConns int
	// DialTimeout bounds connecting to a node (default 5s).
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one socket read or write (default 3s each). The
	// request's context bounds a whole call as well.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolTimeout bounds the wait for a free connection when all are busy (default
	// ReadTimeout + 1s).
	PoolTimeout time.Duration
	// MaxRetries is how often a failed command is retried (default 3; -1 disables retries).
	MaxRetries int
	// TLSCAFile is a PEM file of CA certificates to verify the server against; only with
	// rediss:// or rediss+cluster:// (see tls.go).
	TLSCAFile string
}

// Open connects to the Redis at rawURL and pings it; a failure to reach it is wrapped in
// domain.ErrUnavailable. URL forms:
//
//	redis://[user:password@]host:port[/db][?option=value...]     standalone
//	rediss://...                                                 standalone over TLS
//	redis+cluster://[user:password@]host:port,host:port,...[?...] Redis Cluster from seed nodes
//	rediss+cluster://...                                         Redis Cluster over TLS
//
// Query options are go-redis's (dial_timeout, pool_size, ...); opts override them. The
// caller closes the client.
func Open(ctx context.Context, rawURL string, opts Options) (redis.UniversalClient, error) {
	c, err := NewClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, c); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// NewClient builds the client for rawURL (the forms of Open) without connecting; connections
// are made on first use. Module uses it and pings at fx start.
func NewClient(rawURL string, opts Options) (redis.UniversalClient, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("redisstore: URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://")
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: parse URL: %w", redactURLError(err))
		}
		applyOptions(&o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, opts)
		if err := withTLSCA(&o.TLSConfig, opts.TLSCAFile); err != nil {
			return nil, err
		}
		return redis.NewClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := parseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: parse cluster URL: %w", redactURLError(err))
		}
		applyOptions(&o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, opts)
		if err := withTLSCA(&o.TLSConfig, opts.TLSCAFile); err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	default:
		return nil, fmt.Errorf("redisstore: unsupported URL scheme %q (want redis, rediss, redis+cluster or rediss+cluster)", scheme)
	}
}

// parseClusterURL reads redis+cluster://[userinfo@]host:port,host:port,...[/][?query] into
// cluster options, by rewriting it into go-redis's own cluster URL form (the first seed as
// the host, the others as addr= parameters).
func parseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" {
		return nil, errors.New("a cluster URL takes no database number or path")
	}
	var seeds []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			seeds = append(seeds, h)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("no seed host:port given")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for _, s := range seeds[1:] {
		q.Add("addr", s)
	}
	base := strings.TrimSuffix(scheme, "+cluster")
	o, err := redis.ParseClusterURL(base + "://" + userinfo + seeds[0] + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	if o.TLSConfig != nil {
		// go-redis pins ServerName to the first seed; every node must be verified under its
		// own name, which crypto/tls takes from the address when ServerName is empty.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

func applyOptions(pool, minIdle *int, dial, read, write, poolWait *time.Duration, retries *int, opts Options) {
	setInt := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setDur := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	setInt(pool, opts.PoolSize)
	setInt(minIdle, opts.MinIdleConns)
	setInt(retries, opts.MaxRetries)
	setDur(dial, opts.DialTimeout)
	setDur(read, opts.ReadTimeout)
	setDur(write, opts.WriteTimeout)
	setDur(poolWait, opts.PoolTimeout)
}

// redactURLError drops the URL (which may hold a password) from a *url.Error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ping checks that every node answers: the one node of a standalone client, every master of a
// cluster.
func ping(ctx context.Context, c redis.UniversalClient) error {
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return m.Ping(ctx).Err()
		})
	} else {
		err = c.Ping(ctx).Err()
	}
	if err != nil {
		return unavailable("ping redis", err)
	}
	return nil
}

// Pinger reports whether the session store's Redis answers, for /readyz.
type Pinger struct{ client redis.UniversalClient }

// NewPinger returns a ports.Pinger over client.
func NewPinger(client redis.UniversalClient) *Pinger { return &Pinger{client: client} }

// Name is "sessions".
func (p *Pinger) Name() string { return "sessions" }

// Ping pings the node, or every master of a cluster; failures wrap domain.ErrUnavailable.
func (p *Pinger) Ping(ctx context.Context) error { return ping(ctx, p.client) }
