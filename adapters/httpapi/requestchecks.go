package httpapi

// What a request must be before any handler sees it — headers of bounded size, unambiguous
// framing, a path and query free of control bytes, a JSON body — and the security headers every
// response carries.

import (
	"bytes"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

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
