package httpapi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/domain"
)

// problemBase prefixes the type URI of every problem document.
const problemBase = "https://portcullis.dev/problems/"

// problemContentType is the media type of every error response (RFC 9457).
const problemContentType = "application/problem+json"

// retryAfterSeconds is what a 503 asks the client to wait before trying again.
const retryAfterSeconds = 5

// Problem is an RFC 9457 problem document, the body of every error response.
type Problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Code      string            `json:"code"`
	Detail    string            `json:"detail,omitempty"`
	Errors    []FieldProblem    `json:"errors,omitempty"`
	Checks    map[string]string `json:"checks,omitempty"` // readiness only: each check's state
	RequestID string            `json:"request_id,omitempty"`
	// Message repeats Detail (else Title) on the seed compatibility routes, whose front-ends
	// show an error's `message` (compat.go); empty elsewhere.
	Message string `json:"message,omitempty"`
}

// FieldProblem is one invalid field of a request body.
type FieldProblem struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error raised by this adapter itself (bad body, missing token, cross-site
// request ...) that already knows its status and code. Wrapped errors (err) are logged for 5xx.
type apiError struct {
	status int
	code   string
	title  string
	detail string
	fields []FieldProblem
	checks map[string]string
	err    error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.code + ": " + e.err.Error()
	}
	return e.code + ": " + e.detail
}

func (e *apiError) Unwrap() error { return e.err }

// Errors raised by the adapter. Each is a distinct value so that tests and handlers can
// compare them; their bodies are fixed and generic.
var (
	errNoToken = &apiError{status: fiber.StatusUnauthorized, code: "unauthenticated", title: "Authentication required",
		detail: "an access token is required"}
	errInvalidToken = &apiError{status: fiber.StatusUnauthorized, code: "invalid_token", title: "Invalid token",
		detail: "the access token is missing, malformed, expired or revoked"}
	errNoRefreshToken = &apiError{status: fiber.StatusUnauthorized, code: "unauthenticated", title: "Authentication required",
		detail: "a refresh token is required, in the body or the refresh cookie"}
	errInvalidRefresh = &apiError{status: fiber.StatusUnauthorized, code: "invalid_refresh_token", title: "Invalid refresh token",
		detail: "the refresh token is malformed, expired, revoked or already used"}
	errInsufficientRole = &apiError{status: fiber.StatusForbidden, code: "insufficient_role", title: "Forbidden",
		detail: "your roles do not allow this"}
	errCrossSite = &apiError{status: fiber.StatusForbidden, code: "cross_site_request", title: "Cross-site request refused",
		detail: "a state-changing request carrying cookies must come from an allowed origin"}
	errUnsupportedMedia = &apiError{status: fiber.StatusUnsupportedMediaType, code: "unsupported_media_type",
		title: "Unsupported media type", detail: "the request body must be application/json, without content encoding"}
	errEmptyBody = &apiError{status: fiber.StatusBadRequest, code: "invalid_body", title: "Invalid request body",
		detail: "a JSON object body is required"}
	errControlBytes = &apiError{status: fiber.StatusBadRequest, code: "invalid_characters", title: "Invalid characters",
		detail: "the path or query holds a control character or is not UTF-8"}
	errBadFraming = &apiError{status: fiber.StatusBadRequest, code: "malformed_request", title: "Malformed request",
		detail: "the request's framing is ambiguous (Content-Length with Transfer-Encoding, an unknown transfer coding, conflicting lengths) or it has two Origin headers"}
	errPanic = errors.New("panic in handler")
)

// mapped is the outcome of mapping an error: the problem document plus response headers.
type mapped struct {
	problem       Problem
	retryAfter    bool
	throttle      *domain.ThrottledError // 429: Retry-After and RateLimit-* come from it
	log           bool                   // 5xx: log the real error once, with the request id
	routeNotFound bool
}

// mapError is the one place where errors become statuses and codes.
func mapError(err error) mapped {
	var (
		ae *apiError
		ve *domain.ValidationError
		fe *fiber.Error
		ce *domain.ConflictError
		te *domain.ThrottledError
	)
	p := func(status int, code, title, detail string) mapped {
		return mapped{problem: Problem{Type: problemBase + code, Title: title, Status: status, Code: code, Detail: detail}}
	}
	switch {
	case errors.As(err, &ae):
		m := p(ae.status, ae.code, ae.title, ae.detail)
		m.problem.Errors = ae.fields
		m.problem.Checks = ae.checks
		m.retryAfter = ae.status == fiber.StatusServiceUnavailable
		m.log = ae.status >= 500 && ae.err != nil // our own 5xx (not_ready) are logged where raised
		return m
	case errors.As(err, &ve):
		m := p(fiber.StatusUnprocessableEntity, "validation_failed", "Invalid request", fieldCount(len(ve.Fields)))
		m.problem.Type = problemBase + "validation"
		m.problem.Errors = make([]FieldProblem, len(ve.Fields))
		for i, f := range ve.Fields {
			m.problem.Errors[i] = FieldProblem{Field: f.Field, Code: f.Code, Message: f.Message}
		}
		return m
	// Unavailability and deadlines come before the sentinels: a store error wraps its cause.
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		m := p(fiber.StatusServiceUnavailable, "store_unavailable", "Service unavailable",
			"a backing service is unavailable or too slow; try again shortly")
		m.retryAfter, m.log = true, true
		return m
	case errors.Is(err, domain.ErrThrottled):
		m := p(fiber.StatusTooManyRequests, "too_many_requests", "Too many requests",
			"too many attempts; wait before trying again")
		if !errors.As(err, &te) {
			te = domain.Throttled(0)
		}
		m.throttle = te
		return m
	// The second-factor errors come before the domain errors they wrap.
	case errors.Is(err, application.ErrInvalidPasskey):
		return p(fiber.StatusUnauthorized, "invalid_passkey", "Invalid passkey",
			"the passkey's answer does not check (origin, relying party, challenge, signature or counter)")
	case errors.Is(err, application.ErrInvalidCeremony):
		return p(fiber.StatusUnauthorized, "invalid_ceremony", "Invalid ceremony",
			"the passkey ceremony is unknown, expired or already used; begin again")
	case errors.Is(err, application.ErrPasskeyExists):
		return p(fiber.StatusConflict, "passkey_exists", "Conflict", "this passkey is already registered")
	case errors.Is(err, application.ErrTooManyPasskeys):
		return p(fiber.StatusConflict, "too_many_passkeys", "Conflict", "delete a passkey before registering another")
	case errors.Is(err, application.ErrNoPasskey):
		return p(fiber.StatusConflict, "no_second_factor", "Conflict", "there is no such second factor to use or confirm")
	case errors.Is(err, application.ErrInvalidCode):
		return p(fiber.StatusUnauthorized, "invalid_code", "Invalid code", "the code is wrong, expired or already used")
	case errors.Is(err, application.ErrInvalidMFAToken):
		return p(fiber.StatusUnauthorized, "invalid_mfa_token", "Invalid mfa_token",
			"the mfa_token is unknown, expired or already used; log in again")
	case errors.Is(err, application.ErrMFARequired):
		return p(fiber.StatusForbidden, "mfa_required", "Second factor required",
			"this requires a session opened with a second factor")
	case errors.Is(err, application.ErrTOTPEnabled):
		return p(fiber.StatusConflict, "totp_already_enabled", "Conflict", "an authenticator is already enabled; remove it first")
	case errors.Is(err, application.ErrNoTOTP):
		return p(fiber.StatusConflict, "no_second_factor", "Conflict", "there is no such second factor to use or confirm")
	case errors.Is(err, domain.ErrInvalidOneTimeToken):
		// One body for an unknown, used, expired, superseded or other-purpose token (SECURITY G50).
		return p(fiber.StatusBadRequest, "invalid_token", "Invalid token", "the link is invalid, used or expired; ask for a new one")
	case errors.Is(err, domain.ErrEmailNotVerified):
		return p(fiber.StatusForbidden, "email_not_verified", "E-mail not verified",
			"verify the account's e-mail address first; POST /api/auth/verify-email/resend sends a new link")
	case errors.Is(err, application.ErrAlreadyVerified):
		return p(fiber.StatusConflict, "already_verified", "Conflict", "the address is already verified")
	case errors.Is(err, domain.ErrInvalidCredentials):
		// One body for unknown account, wrong password and disabled account (SECURITY B9).
		return p(fiber.StatusUnauthorized, "invalid_credentials", "Invalid credentials", "the credentials are not valid")
	case errors.Is(err, domain.ErrInvalidRefreshToken), errors.Is(err, domain.ErrRefreshReuse):
		return mapError(errInvalidRefresh)
	case errors.Is(err, domain.ErrUnauthenticated), errors.Is(err, domain.ErrSessionRevoked):
		return mapError(errInvalidToken)
	case errors.Is(err, domain.ErrForbidden):
		return p(fiber.StatusForbidden, "forbidden", "Forbidden", "you are not allowed to do this")
	case errors.Is(err, domain.ErrNotFound):
		return p(fiber.StatusNotFound, "not_found", "Not found", "the resource does not exist")
	case errors.Is(err, application.ErrLastAdmin):
		// Before the generic conflict: ErrLastAdmin wraps domain.ErrConflict.
		return p(fiber.StatusConflict, "last_admin", "Conflict", "the last admin cannot be demoted, disabled or deleted")
	case errors.As(err, &ce) && (ce.Field == "email" || ce.Field == "username"):
		m := p(fiber.StatusConflict, ce.Field+"_taken", "Conflict", "the "+ce.Field+" is already taken")
		m.problem.Errors = []FieldProblem{{Field: ce.Field, Code: ce.Field + "_taken", Message: "is already taken"}}
		return m
	case errors.Is(err, domain.ErrStale):
		// An optimistic write lost a race with another change of the same account; nothing was
		// written, and the request may simply be sent again.
		return p(fiber.StatusConflict, "conflict_retry", "Conflict", "the account changed while this request ran; retry")
	case errors.Is(err, domain.ErrConflict):
		return p(fiber.StatusConflict, "conflict", "Conflict", "the email address or username is already taken")
	case errors.Is(err, errPanic):
		m := p(fiber.StatusInternalServerError, "internal_error", "Internal server error", "")
		m.log = true
		return m
	case errors.As(err, &fe):
		return mapFiberError(fe)
	}
	m := p(fiber.StatusInternalServerError, "internal_error", "Internal server error", "")
	m.log = true
	return m
}

// mapFiberError maps the errors Fiber and fasthttp raise themselves (routing, limits).
func mapFiberError(fe *fiber.Error) mapped {
	p := func(status int, code, title, detail string) mapped {
		return mapped{problem: Problem{Type: problemBase + code, Title: title, Status: status, Code: code, Detail: detail}}
	}
	switch fe.Code {
	case fiber.StatusNotFound:
		m := p(fe.Code, "route_not_found", "Not found", "no route matches this path")
		m.routeNotFound = true
		return m
	case fiber.StatusMethodNotAllowed:
		m := p(fe.Code, "method_not_allowed", "Method not allowed", "this path does not accept this method")
		m.routeNotFound = true
		return m
	case fiber.StatusRequestEntityTooLarge:
		return p(fe.Code, "body_too_large", "Request body too large", "the request body exceeds the size limit")
	case fiber.StatusUnsupportedMediaType:
		return mapError(errUnsupportedMedia)
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return p(fe.Code, "headers_too_large", "Request headers too large", "the request headers exceed the size limit")
	case fiber.StatusRequestTimeout:
		return p(fe.Code, "request_timeout", "Request timeout", "the request was not received in time")
	case fiber.StatusBadRequest:
		// fasthttp's parse errors: never echo their text, it may quote the request.
		return p(fe.Code, "malformed_request", "Malformed request", "the HTTP request could not be parsed")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return p(fe.Code, "bad_request", "Bad request", "")
	}
	m := p(fiber.StatusInternalServerError, "internal_error", "Internal server error", "")
	m.log = true
	return m
}

// allowedMethods lists the methods the routes matching path accept, for the Allow header of a
// 405 (RFC 9110 §15.5.6). When a route without parameters matches path exactly, only such
// routes count: /api/users/me is the caller's own, not /api/users/:id.
func (s *Server) allowedMethods(path string) string {
	routes := s.app.GetRoutes(true)
	static := slices.ContainsFunc(routes, func(r fiber.Route) bool { return r.Path == path })
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		if static && r.Path != path {
			continue
		}
		if !seen[r.Method] && routeMatches(r.Path, path) {
			seen[r.Method] = true
			out = append(out, r.Method)
		}
	}
	if seen[fiber.MethodGet] && !seen[fiber.MethodHead] {
		out = append(out, fiber.MethodHead)
	}
	return strings.Join(out, ", ")
}

// routeMatches reports whether path matches a route pattern whose only wildcards are
// ":param" segments (all our routes).
func routeMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], ":") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func fieldCount(n int) string {
	if n == 1 {
		return "1 field is invalid"
	}
	return strconv.Itoa(n) + " fields are invalid"
}

// handleError is the fiber.Config.ErrorHandler, and is also called by the access-log
// middleware so that the logged status is the one sent. It writes the problem document with
// the request id, security headers and, for a 401 on a protected route, WWW-Authenticate.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	// Errors raised by fasthttp before any middleware ran (431, 413, malformed requests) reach
	// this handler directly; give them a request id and the usual headers too.
	rid := requestID(c)
	early := rid == ""
	if early {
		rid = newRequestID()
		c.Locals(ctxRequestID, rid)
		c.Set(headerRequestID, rid)
		s.setSecurityHeaders(c)
	}
	m := mapError(err)
	m.problem.RequestID = rid
	if c.Locals(ctxSeed) != nil {
		m.problem.Message = cmp.Or(m.problem.Detail, m.problem.Title)
	}
	if m.routeNotFound {
		c.Locals(ctxRouteNotFound, true)
	}
	if m.problem.Status == fiber.StatusMethodNotAllowed {
		c.Set(fiber.HeaderAllow, s.allowedMethods(c.Path()))
	}
	if early {
		// No access-log line will follow for a request refused before the middleware ran.
		s.log.InfoContext(c.UserContext(), "request refused", "request_id", rid, "status", m.problem.Status,
			"code", m.problem.Code, "ip", s.clientIP(c))
	}
	if m.log {
		level := slog.LevelError
		if m.problem.Status == fiber.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.Log(c.UserContext(), level, "request failed", "request_id", rid, "status", m.problem.Status,
			"code", m.problem.Code, "error", err.Error())
	}
	if m.problem.Status == fiber.StatusUnauthorized && c.Locals(ctxProtected) != nil {
		challenge := `Bearer realm="portcullis"`
		if m.problem.Code == "invalid_token" {
			challenge += `, error="invalid_token"`
		}
		c.Set(fiber.HeaderWWWAuthenticate, challenge)
	}
	if m.retryAfter {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
	}
	if m.throttle != nil {
		setThrottleHeaders(c, m.throttle)
	}
	if m.problem.Code == "malformed_request" {
		// After a request that could not be framed, the next bytes on the connection cannot be
		// trusted to start a request (RFC 9112 §6.3): close it.
		c.Context().SetConnectionClose()
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	// Drop whatever a handler may have started to write: an error response carries the problem
	// only. (Handlers set cookies only once they cannot fail any more.)
	c.Response().ResetBody()
	return c.Status(m.problem.Status).JSON(m.problem, problemContentType)
}

// setThrottleHeaders writes Retry-After (RFC 9110 §10.2.3) for a 429 and, when the exhausted
// limit is known, the RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset fields of the IETF
// draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers-07).
func setThrottleHeaders(c *fiber.Ctx, te *domain.ThrottledError) {
	secs := strconv.Itoa(te.RetrySeconds())
	c.Set(fiber.HeaderRetryAfter, secs)
	if te.Limit > 0 {
		c.Set("RateLimit-Limit", strconv.Itoa(te.Limit))
		c.Set("RateLimit-Remaining", "0")
		c.Set("RateLimit-Reset", secs)
	}
}
