package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

// invalidateChannel is where Redis sends client-tracking invalidations to a RESP2 connection.
const invalidateChannel = "__redis__:invalidate"

// Changes reports every change to the session keys of a standalone Redis, by whoever makes it
// (any instance, the operator CLI, a script, expiry, eviction, FLUSHALL), through Redis's
// client-side-caching support: one dedicated connection turns on
//
//	CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>sess:
//
// and subscribes to __redis__:invalidate, so Redis sends it the name of every session key that
// is modified, in the same event-loop turn as the write and before it answers the writer. A
// FLUSHALL or FLUSHDB arrives as a null message, which resets the cache. When the connection
// fails, or a health-check PING gets no answer, the watcher reports not live (the cache turns off
// and empties) and reconnects with backoff; it reports live again only once the new connection
// has tracking on and is subscribed.
//
// Receiving is asynchronous, so an invalidation already in this process's socket may not be
// applied yet when a request arrives. Behind closes that gap: it reports whether any byte has
// reached the tracking connection (still in the kernel's receive queue, being read, or read but
// not yet applied) that the watcher has not applied. A cache answers only when it is false; so
// a change whose invalidation reached this host before a request began is never answered from
// memory for that request. (Redis queues the invalidation before the writer's reply, in the
// same event-loop turn.) Any message the watcher cannot account for byte for byte makes it
// reconnect, which empties the cache.
//
// Only a standalone Redis over plain TCP (redis://) is supported: in a Cluster every master
// would need its own tracking connection, under Sentinel a failover loses the tracking state,
// and under TLS the bytes in the socket are not the bytes of the messages.
type Changes struct {
	opts *redis.Options
	keys keys
	log  *slog.Logger
	// healthEvery is how long the watcher waits for a message before it PINGs.
	healthEvery time.Duration
	cur         atomic.Pointer[trackedConn] // the tracking connection, once dialled
}

// NewChanges returns the change feed for the sessions of client under prefix, or false when
// client is not a standalone Redis over plain TCP.
func NewChanges(client redis.UniversalClient, prefix string, log *slog.Logger) (*Changes, bool) {
	c, ok := client.(*redis.Client)
	if !ok || c.Options().TLSConfig != nil || c.Options().Network == "unix" {
		return nil, false
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Changes{opts: c.Options(), keys: k, log: log, healthEvery: time.Second}, true
}

// Watch follows the changes until ctx ends (see sessioncache.Feed).
func (ch *Changes) Watch(ctx context.Context, changed func(id string), reset func(), live func(bool)) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := ch.watchOnce(ctx, changed, reset, live)
		live(false)
		if ctx.Err() != nil {
			return
		}
		ch.log.WarnContext(ctx, "session cache off: lost the Redis invalidation feed; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watchOnce runs one connection until it fails.
func (ch *Changes) watchOnce(ctx context.Context, changed func(string), reset func(), live func(bool)) error {
	opts := *ch.opts
	opts.Protocol = 2 // invalidations come as ordinary Pub/Sub messages on RESP2
	opts.PoolSize, opts.MinIdleConns, opts.MaxIdleConns = 1, 0, 1
	opts.MaxRetries = -1
	opts.ClientName = trackingName(opts.ClientName)
	prefix := ch.keys.prefix + sessionKeyPart
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc, err := newTrackedConn(c)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		ch.cur.Store(tc)
		return tc, nil
	}
	opts.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		id, err := cn.ClientID(ctx).Result()
		if err != nil {
			return err
		}
		if err := cn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", id, "BCAST", "PREFIX", prefix).Err(); err != nil {
			return err
		}
		// Every reply so far answered a command and has been read; from here on each byte is
		// a Pub/Sub message that the loop below accounts for.
		if tc := ch.cur.Load(); tc != nil {
			tc.unapplied.Store(0)
		}
		return nil
	}
	client := redis.NewClient(&opts)
	defer client.Close()
	ps := client.Subscribe(ctx, invalidateChannel)
	defer ps.Close()
	first, err := ps.ReceiveTimeout(ctx, max(opts.ReadTimeout, time.Second))
	if err != nil {
		return err // the subscription was not confirmed
	}
	if err := ch.applied(first); err != nil {
		return err
	}
	live(true)
	for {
		msg, err := ps.ReceiveTimeout(ctx, ch.healthEvery)
		if err != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err // includes the null message of a FLUSHALL, which go-redis cannot parse
		}
		if m, ok := msg.(*redis.Message); ok && m.Channel == invalidateChannel {
			if len(m.PayloadSlice) == 0 {
				reset()
			}
			for _, key := range m.PayloadSlice {
				if id, ok := ch.sessionID(key); ok {
					changed(id)
				} else {
					reset()
				}
			}
		}
		if err := ch.applied(msg); err != nil {
			return err
		}
	}
}

// Behind reports whether bytes reached the tracking connection that the watcher has not applied
// yet, or there is no tracking connection (see Changes).
func (ch *Changes) Behind() bool {
	tc := ch.cur.Load()
	return tc == nil || tc.behind()
}

// applied subtracts the wire size of msg, now applied, from the bytes read; a message whose
// size it cannot tell is an error (the watcher reconnects).
func (ch *Changes) applied(msg any) error {
	tc := ch.cur.Load()
	if tc == nil {
		return errors.New("no tracking connection")
	}
	var n int
	switch m := msg.(type) {
	case *redis.Message:
		if m.Payload != "" || m.Pattern != "" {
			return fmt.Errorf("unexpected message on %s", m.Channel)
		}
		n = arrayLen(3) + bulkLen("message") + bulkLen(m.Channel) + arrayLen(len(m.PayloadSlice))
		for _, k := range m.PayloadSlice {
			n += bulkLen(k)
		}
	case *redis.Subscription:
		n = arrayLen(3) + bulkLen(m.Kind) + bulkLen(m.Channel) + 1 + len(strconv.Itoa(m.Count)) + 2
	case *redis.Pong:
		n = arrayLen(2) + bulkLen("pong") + bulkLen(m.Payload)
	default:
		return fmt.Errorf("unexpected %T on the tracking connection", msg)
	}
	tc.unapplied.Add(-int64(n))
	return nil
}

// arrayLen and bulkLen are the RESP2 sizes of an array header and a bulk string.
func arrayLen(n int) int   { return 1 + len(strconv.Itoa(n)) + 2 }
func bulkLen(s string) int { return 1 + len(strconv.Itoa(len(s))) + 2 + len(s) + 2 }

// readMark is added to trackedConn.unapplied for the length of a read system call, so that bytes
// taken from the kernel but not yet counted still show as unapplied.
const readMark = 1 << 40

// trackedConn is the tracking connection: it counts the bytes read and not yet applied, and
// reads only once the kernel holds bytes, so that a read in progress never hides them.
type trackedConn struct {
	*net.TCPConn
	rc        syscall.RawConn
	unapplied atomic.Int64
}

func newTrackedConn(c net.Conn) (*trackedConn, error) {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return nil, fmt.Errorf("tracking needs a TCP connection, got %T", c)
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &trackedConn{TCPConn: tcp, rc: rc}, nil
}

// Read waits (honouring the read deadline) until the kernel holds bytes, an end of file or an
// error, and only then reads.
func (c *trackedConn) Read(p []byte) (int, error) {
	err := c.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return err != unix.EAGAIN && err != unix.EINTR
	})
	if err != nil {
		return 0, err
	}
	c.unapplied.Add(readMark)
	n, err := c.TCPConn.Read(p)
	c.unapplied.Add(int64(n) - readMark)
	return n, err
}

// behind reports whether the socket is readable (bytes, an end of file or an error the watcher
// has not seen: a dropped subscription counts as behind from the moment it reaches this host)
// or read bytes are not yet applied. The kernel is asked first: bytes leave it only after Read
// has marked them unapplied.
func (c *trackedConn) behind() bool {
	ready, perr := true, error(nil)
	if err := c.rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		var n int
		n, perr = unix.Poll(fds, 0)
		ready = n != 0
	}); err != nil {
		return true
	}
	return perr != nil || ready || c.unapplied.Load() != 0
}

// trackingName names the tracking connection in CLIENT LIST after the client's own name.
func trackingName(name string) string {
	if name == "" {
		return "portcullis-session-tracking"
	}
	return name + "-tracking"
}

// sessionID is the session id of a session key, or false.
func (ch *Changes) sessionID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, ch.keys.prefix+sessionKeyPart+"{")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "}")
	return id, ok && id != ""
}
