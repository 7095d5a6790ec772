package redisstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// invalidateChannel is where Redis sends client-tracking invalidations to a RESP2 connection.
const invalidateChannel = "__redis__:invalidate"

// Changes reports every change to the session keys of a standalone Redis, by whoever makes it
// (any instance, the operator CLI, a bare redis-cli DEL, expiry, eviction, FLUSHALL), through
// Redis's client-side-caching support, and proves on demand that every change acknowledged
// before a moment has been reported (Sync). One dedicated connection, which this type speaks
// RESP2 on itself (no pool, no silent reconnect), runs
//
//	CLIENT TRACKING ON REDIRECT <its own id> BCAST PREFIX <prefix>sess:
//	SUBSCRIBE __redis__:invalidate
//
// Redis queues the invalidation of a modified key on that connection before the writer's reply
// leaves the server (BCAST invalidations are queued at the end of the event-loop turn, before
// pending replies are written), and it answers the commands of one connection in order.
//
// Sync is the read barrier: it writes a PING on the tracking connection after Sync was called
// (or joins one not yet written) and returns when that PING's PONG has been read, every message
// before it having been applied. A revoke acknowledged before Sync began had its invalidation
// queued on the connection before the PING, so it has been reported when Sync returns. A PING
// is shared by every caller waiting when it is written. A connection that fails, an unexpected
// message or a PONG later than pingTimeout ends the connection: Watch reports not live (the
// cache empties and stops answering), Sync fails until a new connection is subscribed, and a
// PONG of a new connection never answers a PING of the old one.
//
// Only a standalone Redis (redis://, rediss://) is supported. In a Cluster each master would need
// its own tracking connection and a barrier over all of them, and under Sentinel a failover
// moves the writes to another server than the one tracking; both keep no session cache.
type Changes struct {
	opts   *redis.Options
	prefix string // of session keys: <prefix>sess:
	log    *slog.Logger

	pingTimeout time.Duration

	mu     sync.Mutex
	conn   *trackingConn // nil while not subscribed
	next   *syncRound    // the PING callers join; not written yet
	kick   chan struct{}
	closed bool
}

// pingTimeout is how long a barrier PING may take before the connection counts as failed.
const pingTimeout = 500 * time.Millisecond

// errNotLive is Sync's answer while no tracking connection is subscribed.
var errNotLive = errors.New("redisstore: the session invalidation connection is not live")

type syncRound struct {
	done chan struct{}
	err  error
}

// trackingConn is one subscribed tracking connection.
type trackingConn struct {
	c        net.Conn
	w        *bufio.Writer // written by dial, then by Watch's pinger alone
	inflight []*syncRound  // PINGs written, in order, waiting for their PONG (under Changes.mu)
	dead     chan struct{}
	once     sync.Once
}

func (tc *trackingConn) close() {
	tc.once.Do(func() {
		close(tc.dead)
		_ = tc.c.Close()
	})
}

// NewChanges returns the change feed for the sessions of client under prefix, or false when
// client is not a standalone Redis (a Cluster or a Sentinel-managed master).
func NewChanges(client redis.UniversalClient, prefix string, log *slog.Logger) (*Changes, bool) {
	c, ok := client.(*redis.Client)
	if !ok || c.Options().Addr == "FailoverClient" {
		return nil, false
	}
	k, err := newKeys(prefix)
	if err != nil {
		return nil, false
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Changes{opts: c.Options(), prefix: k.prefix + sessionKeyPart, log: log, pingTimeout: pingTimeout,
		kick: make(chan struct{}, 1)}, true
}

// Watch follows the changes until ctx ends (see sessioncache.Feed).
func (ch *Changes) Watch(ctx context.Context, changed func(id string), reset func(), live func(bool)) {
	go ch.pinger(ctx)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := ch.watchOnce(ctx, changed, reset, live)
		if ctx.Err() != nil {
			return
		}
		ch.log.WarnContext(ctx, "session cache off: lost the Redis invalidation connection; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watchOnce dials, subscribes and applies messages until the connection fails.
func (ch *Changes) watchOnce(ctx context.Context, changed func(string), reset func(), live func(bool)) error {
	tc, r, err := ch.dial(ctx)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, tc.close)
	defer stop()
	defer func() {
		// Off first, then forget the connection and fail its waiting PINGs: no Sync succeeds
		// on a connection whose messages may have been lost.
		live(false)
		tc.close()
		ch.mu.Lock()
		if ch.conn == tc {
			ch.conn = nil
		}
		for _, s := range tc.inflight {
			s.err = errNotLive
			close(s.done)
		}
		tc.inflight = nil
		ch.mu.Unlock()
	}()
	live(true) // the cache is empty from here on: nothing before the subscription was known
	ch.mu.Lock()
	ch.conn = tc
	ch.mu.Unlock()
	for {
		msg, err := readReply(r)
		if err != nil {
			return err
		}
		arr, ok := msg.([]any)
		if !ok || len(arr) < 2 {
			return fmt.Errorf("unexpected reply %v on the tracking connection", msg)
		}
		kind, _ := arr[0].(string)
		switch {
		case strings.EqualFold(kind, "pong"):
			ch.mu.Lock()
			if len(tc.inflight) == 0 {
				ch.mu.Unlock()
				return errors.New("a PONG for no PING on the tracking connection")
			}
			s := tc.inflight[0]
			tc.inflight = tc.inflight[1:]
			ch.mu.Unlock()
			close(s.done)
		case kind == "message" && len(arr) == 3 && arr[1] == invalidateChannel:
			switch keys := arr[2].(type) {
			case nil: // FLUSHALL, FLUSHDB
				reset()
			case []any:
				for _, k := range keys {
					key, _ := k.(string)
					if id, ok := ch.sessionID(key); ok {
						changed(id)
					} else {
						reset()
					}
				}
			default:
				reset()
			}
		default:
			return fmt.Errorf("unexpected message %v on the tracking connection", msg)
		}
	}
}

// dial opens the tracking connection, turns tracking on towards itself and subscribes.
func (ch *Changes) dial(ctx context.Context) (*trackingConn, *bufio.Reader, error) {
	o := ch.opts
	dctx, cancel := context.WithTimeout(ctx, max(o.DialTimeout, time.Second))
	defer cancel()
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	network := o.Network
	if network == "" {
		network = "tcp"
	}
	c, err := d.DialContext(dctx, network, o.Addr)
	if err != nil {
		return nil, nil, err
	}
	if o.TLSConfig != nil {
		tlsc := tls.Client(c, o.TLSConfig.Clone())
		if err := tlsc.HandshakeContext(dctx); err != nil {
			_ = c.Close()
			return nil, nil, err
		}
		c = tlsc
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	tc := &trackingConn{c: c, w: bufio.NewWriter(c), dead: make(chan struct{})}
	r := bufio.NewReader(c)
	call := func(args ...string) (any, error) {
		if err := writeCommand(tc.w, args...); err != nil {
			return nil, err
		}
		if err := tc.w.Flush(); err != nil {
			return nil, err
		}
		rep, err := readReply(r)
		if e, ok := rep.(respError); ok {
			return nil, fmt.Errorf("%s: %s", args[0], string(e))
		}
		return rep, err
	}
	fail := func(err error) (*trackingConn, *bufio.Reader, error) {
		_ = c.Close()
		return nil, nil, err
	}
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if _, err := call(args...); err != nil {
			return fail(err)
		}
	}
	if _, err := call("CLIENT", "SETNAME", trackingName(o.ClientName)); err != nil {
		return fail(err)
	}
	id, err := call("CLIENT", "ID")
	if err != nil {
		return fail(err)
	}
	n, ok := id.(int64)
	if !ok {
		return fail(fmt.Errorf("CLIENT ID answered %v", id))
	}
	if _, err := call("CLIENT", "TRACKING", "ON", "REDIRECT", strconv.FormatInt(n, 10), "BCAST", "PREFIX", ch.prefix); err != nil {
		return fail(err)
	}
	sub, err := call("SUBSCRIBE", invalidateChannel)
	if err != nil {
		return fail(err)
	}
	if arr, ok := sub.([]any); !ok || len(arr) != 3 || arr[0] != "subscribe" {
		return fail(fmt.Errorf("SUBSCRIBE answered %v", sub))
	}
	_ = c.SetDeadline(time.Time{})
	return tc, r, nil
}

// Sync returns once every change to a session acknowledged to its writer before Sync was
// called has been reported to Watch's callbacks, or an error: then nothing may be answered
// from memory (see Changes).
func (ch *Changes) Sync(ctx context.Context) error {
	ch.mu.Lock()
	if ch.conn == nil {
		ch.mu.Unlock()
		return errNotLive
	}
	s := ch.next
	if s == nil {
		s = &syncRound{done: make(chan struct{})}
		ch.next = s
		select {
		case ch.kick <- struct{}{}:
		default:
		}
	}
	ch.mu.Unlock()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pinger writes the PING of each round callers have joined, in order, on the current
// connection, and ends a connection whose PONG is late.
func (ch *Changes) pinger(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			ch.mu.Lock()
			if s := ch.next; s != nil {
				ch.next = nil
				s.err = errNotLive
				close(s.done)
			}
			ch.mu.Unlock()
			return
		case <-ch.kick:
		}
		ch.mu.Lock()
		s, tc := ch.next, ch.conn
		ch.next = nil
		if s == nil {
			ch.mu.Unlock()
			continue
		}
		if tc == nil {
			ch.mu.Unlock()
			s.err = errNotLive
			close(s.done)
			continue
		}
		tc.inflight = append(tc.inflight, s)
		ch.mu.Unlock()
		_ = tc.c.SetWriteDeadline(time.Now().Add(ch.pingTimeout))
		err := writeCommand(tc.w, "PING")
		if err == nil {
			err = tc.w.Flush()
		}
		if err != nil {
			tc.close() // the reader fails every waiting round
			continue
		}
		time.AfterFunc(ch.pingTimeout, func() {
			select {
			case <-s.done:
			default:
				tc.close() // late: the reader fails and the cache goes off
			}
		})
	}
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
	rest, ok := strings.CutPrefix(key, ch.prefix+"{")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "}")
	return id, ok && id != ""
}

// writeCommand writes args as a RESP array of bulk strings.
func writeCommand(w *bufio.Writer, args ...string) error {
	_, err := fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
	return err
}

// respError is a RESP error reply.
type respError string

// maxBulk bounds one bulk string on the tracking connection (a key name).
const maxBulk = 1 << 20

// readReply reads one RESP2 value: a string (simple or bulk), int64, respError, []any, or nil
// (a null bulk string or array).
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed RESP line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("malformed RESP bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, fmt.Errorf("malformed RESP array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	default:
		return nil, fmt.Errorf("unexpected RESP type %q", line[0])
	}
}
