package httpapi

// Request plumbing: the request id, the access log, panic recovery, and the deadline and client
// details every request carries into the use cases. The checks a request must pass are in
// requestchecks.go, the cross-origin rules in origins.go, the client address in clientip.go,
// authentication and roles in auth.go, throttling in throttle.go; server.go installs them in order.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/ports"
)

// Keys of the values kept in c.Locals for one request.
type ctxKey int

const (
	ctxRequestID     ctxKey = iota // string
	ctxPrincipal                   // application.Principal
	ctxProtected                   // bool: the route requires authentication
	ctxRouteNotFound               // bool: no route matched
	ctxSeed                        // bool: a seed compatibility route (compat.go)
)

const headerRequestID = "X-Request-Id"

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(ctxRequestID).(string)
	return id
}

func principal(c *fiber.Ctx) (application.Principal, bool) {
	p, ok := c.Locals(ctxPrincipal).(application.Principal)
	return p, ok
}

// withRequestID gives every request a fresh id. An id sent by the client is never adopted (it
// could collide with or impersonate another request's), only logged when it looks harmless.
func (s *Server) withRequestID(c *fiber.Ctx) error {
	id := newRequestID()
	c.Locals(ctxRequestID, id)
	c.Set(headerRequestID, id)
	return c.Next()
}

// accessLog writes one line per request after the response is decided. It calls the error
// handler itself so that the status it logs is the one sent. It never logs query strings,
// bodies, the Authorization header or cookies.
//
// It sits before recover (request id → access log → recover → ...) rather than after it, so
// that a panic, turned into a 500 by recover, is logged with its request id like any request.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	if s.cfg.NoAccessLog {
		return nil
	}
	route := c.Route().Path
	if c.Locals(ctxRouteNotFound) != nil {
		route = ""
	}
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" {
		// Probes come every few seconds from the orchestrator; at info they would bury the
		// requests that matter.
		level = slog.LevelDebug
	}
	ctx := c.UserContext()
	h := s.log.Handler()
	if !h.Enabled(ctx, level) {
		return nil // nothing to build: the line would be dropped
	}
	// The record goes straight to the handler, with typed attributes: slog.Logger.Log would
	// also box each value and take the caller's stack for a source the handler does not print,
	// together about a quarter of the line's cost on the cheapest routes (docs/performance.md,
	// "The access log").
	r := slog.NewRecord(time.Now(), level, "request", 0)
	r.AddAttrs(
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Method()),
		slog.String("route", route),
		slog.String("path", truncateString(c.Path(), 256)),
		slog.Int("status", c.Response().StatusCode()),
		slog.Float64("latency_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("ip", s.clientIP(c)),
	)
	if p, ok := principal(c); ok {
		r.AddAttrs(slog.String("user_id", p.UserID))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	if up := c.Get(headerRequestID); up != "" && len(up) <= 64 && isToken(up) {
		r.AddAttrs(slog.String("upstream_request_id", up))
	}
	_ = h.Handle(ctx, r) // as slog.Logger does: a line that cannot be written is not the request's failure
	return nil
}

// recoverPanic turns a panic into errPanic (a 500 carrying the request id only) and logs the
// panic value and stack once.
func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.UserContext(), "panic", "request_id", requestID(c), "panic", fmt.Sprint(r),
				"stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return c.Next()
}

// withTimeout bounds the time a request may spend in the use cases (and so in the stores), and
// records when the request started.
func (s *Server) withTimeout(c *fiber.Ctx) error {
	// The request's start, for the caches' shared freshness checks (ports.WithRequestStart):
	// taken after the request was received, so later than anything its sender saw acknowledged.
	ctx, cancel := context.WithTimeout(ports.WithRequestStart(c.UserContext(), time.Now()), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// withRequestInfo puts the client address (as the access log computes it, honouring trusted
// proxies) and user agent into the request's context, for the audit trail the use cases write.
func (s *Server) withRequestInfo(c *fiber.Ctx) error {
	c.SetUserContext(application.WithRequestInfo(c.UserContext(), application.RequestInfo{
		IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent),
	}))
	return c.Next()
}

// isToken reports whether v is a harmless identifier (letters, digits, - _ .).
func isToken(v string) bool {
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func truncateString(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return strings.ToValidUTF8(v[:n], "")
}
