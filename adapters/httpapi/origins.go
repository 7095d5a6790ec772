package httpapi

// Cross-origin rules: CORS for the allowed origins, and the CSRF check on state-changing
// requests a browser may have sent on behalf of another site (SECURITY E39).

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

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
