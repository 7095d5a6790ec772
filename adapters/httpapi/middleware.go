package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
	if !s.log.Enabled(c.UserContext(), level) {
		return nil // nothing to build: the line would be dropped
	}
	attrs := []any{
		"request_id", requestID(c),
		"method", c.Method(),
		"route", route,
		"path", truncateString(c.Path(), 256),
		"status", c.Response().StatusCode(),
		"latency_ms", float64(time.Since(start).Microseconds()) / 1000,
		"ip", s.clientIP(c),
	}
	if p, ok := principal(c); ok {
		attrs = append(attrs, "user_id", p.UserID)
	}
	if sc := trace.SpanContextFromContext(c.UserContext()); sc.IsValid() {
		attrs = append(attrs, "trace_id", sc.TraceID().String())
	}
	if up := c.Get(headerRequestID); up != "" && len(up) <= 64 && isToken(up) {
		attrs = append(attrs, "upstream_request_id", up)
	}
	s.log.Log(c.UserContext(), level, "request", attrs...)
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

// securityHeaders sets the headers every response carries (SECURITY E42).
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	s.setSecurityHeaders(c)
	return c.Next()
}

func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	// Everything this API answers is personal or an error unless a handler says otherwise
	// (the JWKS is public and cacheable).
	c.Set(fiber.HeaderCacheControl, "no-store")
	if s.cfg.SecureCookies {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains")
	}
}

// limitHeaders answers 431 when the headers are larger than maxHeaderBytes, before anything
// reads them (SECURITY C26).
func (s *Server) limitHeaders(c *fiber.Ctx) error {
	n := 0
	c.Request().Header.VisitAll(func(k, v []byte) { n += len(k) + len(v) + 4 })
	if n > maxHeaderBytes {
		return fiber.ErrRequestHeaderFieldsTooLarge
	}
	return c.Next()
}

// corsMethods and corsHeaders are what a preflight from an allowed origin may ask for.
const (
	corsMethods       = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders       = "Authorization, Content-Type, X-Access-Token"
	corsExposeHeaders = "X-Request-Id, Retry-After, WWW-Authenticate"
	corsMaxAge        = "600"
)

// cors allows exactly the configured origins, with credentials. A foreign origin gets no CORS
// header at all (the browser then blocks the response); `*` is never sent. `Vary: Origin` is on
// every response so that a cache never serves one origin's answer to another.
func (s *Server) cors(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderOrigin)
	origin := c.Get(fiber.HeaderOrigin)
	allowed := origin != "" && s.allowedOrigin(origin)
	preflight := c.Method() == fiber.MethodOptions && c.Get(fiber.HeaderAccessControlRequestMethod) != ""
	if allowed {
		c.Set(fiber.HeaderAccessControlAllowOrigin, origin)
		c.Set(fiber.HeaderAccessControlAllowCredentials, "true")
	}
	if !preflight {
		if allowed {
			c.Set(fiber.HeaderAccessControlExposeHeaders, corsExposeHeaders)
		}
		return c.Next()
	}
	c.Vary(fiber.HeaderAccessControlRequestMethod, fiber.HeaderAccessControlRequestHeaders)
	if allowed {
		c.Set(fiber.HeaderAccessControlAllowMethods, corsMethods)
		c.Set(fiber.HeaderAccessControlAllowHeaders, corsHeaders)
		c.Set(fiber.HeaderAccessControlMaxAge, corsMaxAge)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// allowedOrigin reports whether origin (scheme://host[:port]) is one of the allowed origins or
// the public URL's origin. Comparison is exact after lower-casing; "null" never matches.
func (s *Server) allowedOrigin(origin string) bool {
	_, ok := s.origins[strings.ToLower(origin)]
	return ok
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

// rejectControl refuses with 400 a request whose path or query holds a control byte (a NUL, a
// newline, DEL ...) or is not UTF-8: no route takes one, and such a value must reach neither a
// store (where a NUL is a driver error, a 500) nor a log line.
func (s *Server) rejectControl(c *fiber.Ctx) error {
	bad := !cleanText(c.Request().URI().Path())
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		bad = bad || !cleanText(k) || !cleanText(v)
	})
	if bad {
		return errControlBytes
	}
	return c.Next()
}

// checkFraming refuses, with 400 and the connection closed, a request whose message framing is
// ambiguous (RFC 9112 §6.3): both Content-Length and Transfer-Encoding, a transfer coding other
// than a single "chunked", or Content-Length values that differ. Such requests are how request
// smuggling between a proxy and a server starts; fasthttp would pick one reading and go on.
// Two Origin headers are refused the same way: which one a CORS or CSRF check reads would be a
// guess.
func (s *Server) checkFraming(c *fiber.Ctx) error {
	// fasthttp keeps one Content-Length and Transfer-Encoding after parsing; the raw header
	// block still has every line as received.
	// Only Content-Length, Transfer-Encoding and Origin lines are looked at further; the scan
	// itself allocates nothing (it runs on every request).
	var lengths, codings []string
	origins := 0
	raw := c.Request().Header.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		var into *[]string
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			into = &lengths
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			into = &codings
		case bytes.EqualFold(name, []byte("origin")):
			origins++
			continue
		default:
			continue
		}
		for _, p := range strings.Split(string(value), ",") {
			*into = append(*into, strings.ToLower(strings.TrimSpace(p)))
		}
	}
	bad := len(lengths) > 0 && len(codings) > 0 ||
		len(codings) > 0 && (len(codings) != 1 || codings[0] != "chunked") ||
		slices.ContainsFunc(lengths, func(l string) bool { return l != lengths[0] }) ||
		origins > 1
	if bad {
		c.Context().SetConnectionClose()
		return errBadFraming
	}
	return c.Next()
}

// cleanText reports whether b is UTF-8 without C0 control bytes or DEL.
func cleanText(b []byte) bool {
	for _, x := range b {
		if x < 0x20 || x == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// limitRoute counts the request against its route's per-address limit (registration, mail) and
// refuses it with 429 once the client address has used it up.
func (s *Server) limitRoute(r application.Route) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.deps.Throttle.Hit(c.UserContext(), r); err != nil {
			return err
		}
		return c.Next()
	}
}

// guardTokens throttles token guessing on a route that takes a token (refresh, e-mail tokens):
// a client address that presented too many bad tokens is refused with 429 before the token is
// looked at, and each bad token (invalid_token, invalid_refresh_token) counts against it.
func (s *Server) guardTokens(c *fiber.Ctx) error {
	ctx := c.UserContext()
	if err := s.deps.Throttle.CheckGuess(ctx); err != nil {
		return err
	}
	err := c.Next()
	if err != nil {
		if code := mapError(err).problem.Code; code == "invalid_token" || code == "invalid_refresh_token" {
			s.deps.Throttle.GuessFailed(ctx)
		}
	}
	return err
}

// requireJSON refuses a body that is not application/json (415) on POST, PUT and PATCH (but
// the link pages' own form posts, see pages.go), and any Content-Encoding: the body limit
// applies to the bytes received, and a compressed body could
// expand far beyond it.
func (s *Server) requireJSON(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
	default:
		return c.Next()
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return errUnsupportedMedia
	}
	if len(c.Request().Body()) == 0 || s.isFormPost(c) {
		return c.Next()
	}
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return errUnsupportedMedia
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedMedia
	}
	return c.Next()
}

// csrf refuses a state-changing request that a browser may have sent on behalf of another
// site (SECURITY E39): one that carries any of our cookies, or that the browser marks
// `Sec-Fetch-Site: cross-site`, must name an allowed origin in Origin (or, without Origin, in
// Referer). Requests without cookies and without that mark — curl, REST clients using a
// Bearer token — pass: no browser attaches credentials to them; so do cookie-carrying requests
// with no browser metadata at all (no Origin, Referer or Sec-Fetch-*), which no browser sends.
// Login and logout are included.
func (s *Server) csrf(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return c.Next()
	}
	if !s.carriesOurCookies(c) && !strings.EqualFold(c.Get("Sec-Fetch-Site"), "cross-site") {
		return c.Next()
	}
	rawOrigin := c.Get(fiber.HeaderOrigin)
	origin := rawOrigin
	if origin == "" || origin == "null" {
		origin = refererOrigin(c.Get(fiber.HeaderReferer))
	}
	if origin == "" && rawOrigin == "" && c.Get("Sec-Fetch-Site") == "" {
		// No Origin, no Referer and no fetch metadata: not a browser (every current browser
		// sends Origin and Sec-Fetch-Site on a POST), so not a forgery — curl with a cookie jar.
		return c.Next()
	}
	if origin == "" || !s.allowedOrigin(origin) {
		return errCrossSite
	}
	return c.Next()
}

func (s *Server) carriesOurCookies(c *fiber.Ctx) bool {
	for _, name := range s.cookies.all() {
		if c.Cookies(name) != "" {
			return true
		}
	}
	return false
}

// refererOrigin returns the scheme://host of a Referer, or "".
func refererOrigin(ref string) string {
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// originOf returns the lower-cased scheme://host[:port] of a URL, or "" when it has none.
func originOf(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// clientIP is the caller's address, the one that rate limits count and logs show.
// X-Forwarded-For (or, without it, Forwarded) is believed only when the peer is a trusted proxy
// (SECURITY B12), and then read from the right: the first address that is not itself a trusted
// proxy is the client, so a client cannot forge its address by sending its own header through
// the proxy.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return ""
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	hops := forwardedHops(c)
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			break // a malformed or obfuscated hop: stop believing the header here
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

// forwardedHops lists the client-side hops a proxy recorded, oldest first: X-Forwarded-For
// (every such header, in order), or when there is none the for= parameters of Forwarded
// (RFC 7239).
func forwardedHops(c *fiber.Ctx) []string {
	var hops []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	if len(hops) > 0 {
		return hops
	}
	for _, v := range c.Request().Header.PeekAll("Forwarded") {
		for _, elem := range strings.Split(string(v), ",") {
			hop := "" // an element without for= is a hop we cannot place: it stops the walk
			for _, pair := range strings.Split(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hop = strings.Trim(val, `"`)
				}
			}
			hops = append(hops, hop)
		}
	}
	return hops
}

// parseHop reads one hop: an address, or (Forwarded) "[v6]", "[v6]:port" or "v4:port".
func parseHop(h string) (netip.Addr, error) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return netip.ParseAddr(h[1 : len(h)-1])
	}
	ap, err := netip.ParseAddrPort(h)
	return ap.Addr(), err
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
