package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/internal/urlerr"
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
	// request's context bounds a whole call as well, its deadline every read and write of it
	// (the client is built with go-redis's ContextTimeoutEnabled, see NewClient).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// PoolTimeout bounds the wait for a free connection when all are busy (default
	// ReadTimeout + 1s).
	PoolTimeout time.Duration
	// MaxRetries is how often a failed command is retried (default 3; -1 disables retries).
	MaxRetries int
	// TLSCAFile is a PEM file of CA certificates to verify the server against; only with
	// rediss://, rediss+cluster:// or rediss+sentinel:// (see tls.go).
	TLSCAFile string
}

// Open connects to the Redis at rawURL and pings it; a failure to reach it is wrapped in
// domain.ErrUnavailable. URL forms:
//
//	redis://[user:password@]host:port[/db][?option=value...]     standalone
//	rediss://...                                                 standalone over TLS
//	redis+cluster://[user:password@]host:port,host:port,...[?...] Redis Cluster from seed nodes
//	rediss+cluster://...                                         Redis Cluster over TLS
//	redis+sentinel://[user:password@]host:port,host:port,.../master-name[/db][?...]
//	                                                             the master a Sentinel set names
//	rediss+sentinel://...                                        the same over TLS
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
//
// Every topology's client (and a Sentinel set's own clients) bounds each socket read and write
// by the caller's context deadline too (ContextTimeoutEnabled): without it go-redis bounds them
// by ReadTimeout and WriteTimeout alone and looks at the context only between retries, so a
// Redis that accepts connections but does not answer held a request, or /readyz's 2 s ping,
// past PORTCULLIS_REQUEST_TIMEOUT. A connection whose read a deadline cut short is closed, not
// reused with its reply still due. What outlives a request is not bounded by it: the rotation
// pipeliner's batches run on go-redis's own context (Sessions.rotator), the Sentinel
// subscription on go-redis's, and the session cache's tracking connection is not the client's
// (Changes).
func NewClient(rawURL string, opts Options) (redis.UniversalClient, error) {
	kind, err := KindOf(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: URL: %w", err)
	}
	switch kind.Topology {
	case Standalone:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: parse URL: %w", urlerr.Scrub(err))
		}
		applyOptions(&o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, opts)
		o.ContextTimeoutEnabled = true
		smallBuffers(&o.ReadBufferSize, &o.WriteBufferSize, &o.PipelineReadBufferSize, &o.PipelineWriteBufferSize)
		if err := withTLSCA(&o.TLSConfig, opts.TLSCAFile); err != nil {
			return nil, err
		}
		return redis.NewClient(o), nil
	case Cluster:
		o, err := parseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: parse cluster URL: %w", urlerr.Scrub(err))
		}
		applyOptions(&o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, opts)
		o.ContextTimeoutEnabled = true
		smallBuffers(&o.ReadBufferSize, &o.WriteBufferSize, &o.PipelineReadBufferSize, &o.PipelineWriteBufferSize)
		if err := withTLSCA(&o.TLSConfig, opts.TLSCAFile); err != nil {
			return nil, err
		}
		return redis.NewClusterClient(o), nil
	default: // Sentinel
		o, err := parseSentinelURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redisstore: parse sentinel URL: %w", urlerr.Scrub(err))
		}
		applyOptions(&o.PoolSize, &o.MinIdleConns, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, opts)
		o.ContextTimeoutEnabled = true
		smallBuffers(&o.ReadBufferSize, &o.WriteBufferSize, &o.PipelineReadBufferSize, &o.PipelineWriteBufferSize)
		if err := withTLSCA(&o.TLSConfig, opts.TLSCAFile); err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(o), nil
	}
}

// splitMultiHostURL cuts scheme://[userinfo@]host:port,host:port,...[/path][?query] into its
// parts, without url.Parse (which takes one host only). Blank hosts are dropped; a fragment
// stays at the end of path or query.
func splitMultiHostURL(rawURL string) (scheme, userinfo string, hosts []string, path, query string) {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	hostList := authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	for _, h := range strings.Split(hostList, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	path, query, _ = strings.Cut(tail, "?")
	return scheme, userinfo, hosts, path, query
}

// Sentinels listen on 26379 unless told otherwise.
const defaultSentinelPort = "26379"

// parseSentinelURL reads
//
//	redis+sentinel://[user:password@]host:port,host:port,.../master-name[/db][?query]
//
// into failover options. The hosts are Sentinels (port 26379 when none is given); the user and
// password are the master's (and its replicas'); sentinel_username and sentinel_password in the
// query authenticate to the Sentinels themselves. The rest of the query is go-redis's
// (ParseFailoverURL), into whose URL form this one is rewritten.
func parseSentinelURL(rawURL string) (*redis.FailoverOptions, error) {
	scheme, userinfo, sentinels, path, query := splitMultiHostURL(rawURL)
	if strings.Contains(path+query, "#") {
		return nil, errors.New("the URL takes no #fragment")
	}
	if err := sentinelAddrs(sentinels); err != nil {
		return nil, err
	}
	master, db, err := masterPath(path)
	if err != nil {
		return nil, err
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"master_name", "addr", "db"} {
		if q.Has(k) {
			return nil, fmt.Errorf("option %s is not taken: the master name and database go in the path, the sentinels in the host list", k)
		}
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	q.Set("master_name", master)
	for _, s := range sentinels[1:] {
		q.Add("addr", s)
	}
	base := strings.TrimSuffix(scheme, "+sentinel")
	o, err := redis.ParseFailoverURL(base + "://" + userinfo + sentinels[0] + "/" + strconv.Itoa(db) + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	// go-redis reads the URL's user and password as the Sentinels'; here they are the master's.
	if userinfo != "" {
		o.Username, o.Password = o.SentinelUsername, o.SentinelPassword
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	if o.TLSConfig != nil {
		// go-redis pins ServerName to the first Sentinel; each Sentinel, and the master the
		// Sentinels name, must be verified under its own address, which crypto/tls takes from the
		// address when ServerName is empty.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.TLSConfig.InsecureSkipVerify}
	}
	return o, nil
}

// sentinelAddrs gives each Sentinel host without a port the default one, in place, and checks
// that every one is a host:port.
func sentinelAddrs(sentinels []string) error {
	if len(sentinels) == 0 {
		return errors.New("no sentinel host:port given")
	}
	for i, h := range sentinels {
		sentinels[i] = withDefaultPort(h, defaultSentinelPort)
		host, port, err := net.SplitHostPort(sentinels[i])
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			// Not quoted: a password with an unescaped '/' or '@' would end up here.
			return fmt.Errorf("sentinel %d of %d is not host:port", i+1, len(sentinels))
		}
	}
	return nil
}

// masterPath reads the path of a Sentinel URL, /master-name or /master-name/db.
func masterPath(path string) (master string, db int, err error) {
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), "/")
	if len(segs) > 2 || segs[0] == "" {
		return "", 0, errors.New("the path must be /master-name or /master-name/db")
	}
	master, err = url.PathUnescape(segs[0])
	if err != nil || master == "" {
		return "", 0, errors.New("invalid master name in the path")
	}
	if len(segs) == 2 {
		if db, err = strconv.Atoi(segs[1]); err != nil || db < 0 {
			return "", 0, errors.New("the database number after the master name must be a number")
		}
	}
	return master, db, nil
}

// withDefaultPort appends port to a host given without one ("h" or "[::1]"); anything else is
// returned as is, for go-redis to accept or reject.
func withDefaultPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	if !strings.Contains(hostport, ":") || (strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]")) {
		return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
	}
	return hostport
}

// parseClusterURL reads redis+cluster://[userinfo@]host:port,host:port,...[/][?query] into
// cluster options, by rewriting it into go-redis's own cluster URL form (the first seed as
// the host, the others as addr= parameters).
func parseClusterURL(rawURL string) (*redis.ClusterOptions, error) {
	scheme, userinfo, seeds, path, query := splitMultiHostURL(rawURL)
	if path != "" && path != "/" {
		return nil, errors.New("a cluster URL takes no database number or path")
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

// Buffer sizes of each connection, and of each pipeline connection where the URL does not set
// them (pipeline_read_buffer_size, pipeline_write_buffer_size). go-redis gives every connection
// 32 KiB for reading and 32 KiB for writing, and its pipeline connections 128 KiB each, sized
// for large values and batches. Portcullis's commands and replies are a few hundred bytes (a
// session, a rotation script's answer), a batch of rotations a few KiB, and a larger reply (a
// user's list of sessions) is read through the buffer in pieces. Under /api/users/me load at 32
// connections the defaults held about 2 MB of the heap (see docs/performance.md, "Memory").
const (
	connBufferSize     = 4 << 10
	pipelineBufferSize = 16 << 10
)

// smallBuffers sets each buffer size left at 0 (go-redis's default) to Portcullis's.
func smallBuffers(read, write, pipelineRead, pipelineWrite *int) {
	for _, b := range []struct {
		dst  *int
		size int
	}{{read, connBufferSize}, {write, connBufferSize}, {pipelineRead, pipelineBufferSize}, {pipelineWrite, pipelineBufferSize}} {
		if *b.dst == 0 {
			*b.dst = b.size
		}
	}
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
