package redisstore

// The tracking connection of Changes: dialled, set up and read here directly in RESP2 (no pool,
// no silent reconnect), so that a lost connection is always seen and the order of its replies
// is the order Redis sent them.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/internal/barrier"
)

// trackingConn is one subscribed tracking connection.
type trackingConn struct {
	c        net.Conn
	w        *bufio.Writer    // written by dial, then by Watch's pinger alone
	inflight []*barrier.Round // PINGs written, in order, waiting for their PONG (under Changes.mu)
	dead     chan struct{}
	once     sync.Once
}

func (tc *trackingConn) close() {
	tc.once.Do(func() {
		close(tc.dead)
		_ = tc.c.Close()
	})
}

// dial opens the tracking connection, turns tracking on towards itself and subscribes.
func (ch *Changes) dial(ctx context.Context) (*trackingConn, *bufio.Reader, error) {
	dctx, cancel := context.WithTimeout(ctx, max(ch.opts.DialTimeout, time.Second))
	defer cancel()
	c, err := connect(dctx, ch.opts)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	tc := &trackingConn{c: c, w: bufio.NewWriter(c), dead: make(chan struct{})}
	r := bufio.NewReader(c)
	if err := ch.subscribe(tc, r); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return tc, r, nil
}

// connect opens a connection to the client's address, with TLS when the client uses it.
func connect(ctx context.Context, o *redis.Options) (net.Conn, error) {
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	network := o.Network
	if network == "" {
		network = "tcp"
	}
	c, err := d.DialContext(ctx, network, o.Addr)
	if err != nil {
		return nil, err
	}
	if o.TLSConfig != nil {
		tlsc := tls.Client(c, o.TLSConfig.Clone())
		if err := tlsc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		c = tlsc
	}
	return c, nil
}

// subscribe authenticates the connection as the client does, names it, turns tracking of the
// session keys on towards itself and subscribes to the invalidations.
func (ch *Changes) subscribe(tc *trackingConn, r *bufio.Reader) error {
	o := ch.opts
	if o.Password != "" {
		args := []string{"AUTH", o.Password}
		if o.Username != "" {
			args = []string{"AUTH", o.Username, o.Password}
		}
		if _, err := tc.call(r, args...); err != nil {
			return err
		}
	}
	if _, err := tc.call(r, "CLIENT", "SETNAME", trackingName(o.ClientName)); err != nil {
		return err
	}
	id, err := tc.call(r, "CLIENT", "ID")
	if err != nil {
		return err
	}
	n, ok := id.(int64)
	if !ok {
		return fmt.Errorf("CLIENT ID answered %v", id)
	}
	if _, err := tc.call(r, "CLIENT", "TRACKING", "ON", "REDIRECT", strconv.FormatInt(n, 10), "BCAST", "PREFIX", ch.prefix); err != nil {
		return err
	}
	sub, err := tc.call(r, "SUBSCRIBE", invalidateChannel)
	if err != nil {
		return err
	}
	if arr, ok := sub.([]any); !ok || len(arr) != 3 || arr[0] != "subscribe" {
		return fmt.Errorf("SUBSCRIBE answered %v", sub)
	}
	return nil
}

// call sends one command and reads its reply, while the connection is being set up (before
// Watch reads it); an error reply is an error.
func (tc *trackingConn) call(r *bufio.Reader, args ...string) (any, error) {
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

// trackingName names the tracking connection in CLIENT LIST after the client's own name.
func trackingName(name string) string {
	if name == "" {
		return "portcullis-session-tracking"
	}
	return name + "-tracking"
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
