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
	"github.com/portcullis-auth/portcullis/ports"
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
	errTwoRefreshCookies = &apiError{status: fiber.StatusUnauthorized, code: "invalid_refresh_token", title: "Invalid refresh token",
		detail: "the request carries more than one refresh cookie (another site of this domain may have set one); sign in again, or send the refresh token in the body"}
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
	)
	switch {
	case errors.As(err, &ae):
		m := problemOf(ae.status, ae.code, ae.title, ae.detail)
		m.problem.Errors = ae.fields
		m.problem.Checks = ae.checks
		m.retryAfter = ae.status == fiber.StatusServiceUnavailable
		m.log = ae.status >= 500 && ae.err != nil // our own 5xx (not_ready) are logged where raised
		return m
	case errors.As(err, &ve):
		m := problemOf(fiber.StatusUnprocessableEntity, "validation_failed", "Invalid request", fieldCount(len(ve.Fields)))
		m.problem.Type = problemBase + "validation"
		m.problem.Errors = make([]FieldProblem, len(ve.Fields))
		for i, f := range ve.Fields {
			m.problem.Errors[i] = FieldProblem{Field: f.Field, Code: f.Code, Message: f.Message}
		}
		return m
	// Unavailability and deadlines come before the sentinels: a store error wraps its cause.
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		m := problemOf(fiber.StatusServiceUnavailable, "store_unavailable", "Service unavailable",
			"a backing service is unavailable or too slow; try again shortly")
		m.retryAfter, m.log = true, true
		return m
	case errors.Is(err, domain.ErrThrottled):
		return mapThrottled(err)
	// A taken email or username names its field; other conflicts fall to the table.
	case errors.As(err, &ce) && (ce.Field == "email" || ce.Field == "username"):
		m := problemOf(fiber.StatusConflict, ce.Field+"_taken", "Conflict", "the "+ce.Field+" is already taken")
		m.problem.Errors = []FieldProblem{{Field: ce.Field, Code: ce.Field + "_taken", Message: "is already taken"}}
		return m
	}
	for _, s := range sentinels {
		if !slices.ContainsFunc(s.errs, func(target error) bool { return errors.Is(err, target) }) {
			continue
		}
		if s.alias != nil {
			return mapError(s.alias)
		}
		return problemOf(s.status, s.code, s.title, s.detail)
	}
	if !errors.Is(err, errPanic) && errors.As(err, &fe) {
		return mapFiberError(fe)
	}
	// A panic, and anything unknown.
	m := problemOf(fiber.StatusInternalServerError, "internal_error", "Internal server error", "")
	m.log = true
	return m
}

// problemOf is the problem document of one status and code.
func problemOf(status int, code, title, detail string) mapped {
	return mapped{problem: Problem{Type: problemBase + code, Title: title, Status: status, Code: code, Detail: detail}}
}

// mapThrottled is the 429 of a domain.ErrThrottled, with the wait it carries (none if it is the
// bare sentinel).
func mapThrottled(err error) mapped {
	m := problemOf(fiber.StatusTooManyRequests, "too_many_requests", "Too many requests",
		"too many attempts; wait before trying again")
	var te *domain.ThrottledError
	if !errors.As(err, &te) {
		te = domain.Throttled(0)
	}
	m.throttle = te
	return m
}

// sentinel maps an error that is (errors.Is) one of errs to one fixed problem, or to what
// alias maps to.
type sentinel struct {
	errs                []error
	status              int
	code, title, detail string
	alias               error
}

// sentinels are tried in order, so a more specific error comes before the domain error it
// wraps: the second-factor errors before the domain errors, ErrLastAdmin before ErrConflict.
var sentinels = []sentinel{
	{errs: []error{ports.ErrPasskeysOff}, status: fiber.StatusNotImplemented, code: "passkeys_off", title: "Passkeys are off",
		detail: "passkeys need a domain name: set PORTCULLIS_PUBLIC_URL with a host name, or PORTCULLIS_PASSKEY_RP_ID"},
	{errs: []error{application.ErrInvalidPasskey}, status: fiber.StatusUnauthorized, code: "invalid_passkey", title: "Invalid passkey",
		detail: "the passkey's answer does not check (origin, relying party, challenge, signature or counter)"},
	{errs: []error{application.ErrInvalidCeremony}, status: fiber.StatusUnauthorized, code: "invalid_ceremony", title: "Invalid ceremony",
		detail: "the passkey ceremony is unknown, expired or already used; begin again"},
	{errs: []error{application.ErrPasskeyExists}, status: fiber.StatusConflict, code: "passkey_exists", title: "Conflict",
		detail: "this passkey is already registered"},
	{errs: []error{application.ErrTooManyPasskeys}, status: fiber.StatusConflict, code: "too_many_passkeys", title: "Conflict",
		detail: "delete a passkey before registering another"},
	{errs: []error{application.ErrNoPasskey, application.ErrNoTOTP}, status: fiber.StatusConflict, code: "no_second_factor",
		title: "Conflict", detail: "there is no such second factor to use or confirm"},
	{errs: []error{application.ErrInvalidCode}, status: fiber.StatusUnauthorized, code: "invalid_code", title: "Invalid code",
		detail: "the code is wrong, expired or already used"},
	{errs: []error{application.ErrInvalidMFAToken}, status: fiber.StatusUnauthorized, code: "invalid_mfa_token", title: "Invalid mfa_token",
		detail: "the mfa_token is unknown, expired or already used; log in again"},
	{errs: []error{application.ErrMFARequired}, status: fiber.StatusForbidden, code: "mfa_required", title: "Second factor required",
		detail: "this requires a session opened with a second factor"},
	{errs: []error{application.ErrTOTPEnabled}, status: fiber.StatusConflict, code: "totp_already_enabled", title: "Conflict",
		detail: "an authenticator is already enabled; remove it first"},
	// One body for an unknown, used, expired, superseded or other-purpose token (SECURITY G50).
	{errs: []error{domain.ErrInvalidOneTimeToken}, status: fiber.StatusBadRequest, code: "invalid_token", title: "Invalid token",
		detail: "the link is invalid, used or expired; ask for a new one"},
	{errs: []error{domain.ErrEmailNotVerified}, status: fiber.StatusForbidden, code: "email_not_verified", title: "E-mail not verified",
		detail: "verify the account's e-mail address first; POST /api/auth/verify-email/resend sends a new link"},
	{errs: []error{application.ErrAlreadyVerified}, status: fiber.StatusConflict, code: "already_verified", title: "Conflict",
		detail: "the address is already verified"},
	// One body for unknown account, wrong password and disabled account (SECURITY B9).
	{errs: []error{domain.ErrInvalidCredentials}, status: fiber.StatusUnauthorized, code: "invalid_credentials",
		title: "Invalid credentials", detail: "the credentials are not valid"},
	{errs: []error{domain.ErrInvalidRefreshToken, domain.ErrRefreshReuse}, alias: errInvalidRefresh},
	{errs: []error{domain.ErrUnauthenticated, domain.ErrSessionRevoked}, alias: errInvalidToken},
	{errs: []error{domain.ErrForbidden}, status: fiber.StatusForbidden, code: "forbidden", title: "Forbidden",
		detail: "you are not allowed to do this"},
	{errs: []error{domain.ErrNotFound}, status: fiber.StatusNotFound, code: "not_found", title: "Not found",
		detail: "the resource does not exist"},
	// Before the generic conflict: ErrLastAdmin wraps domain.ErrConflict.
	{errs: []error{domain.ErrLastAdmin}, status: fiber.StatusConflict, code: "last_admin", title: "Conflict",
		detail: "the last admin cannot be demoted, disabled or deleted"},
	// An optimistic write lost a race with another change of the same account; nothing was
	// written, and the request may simply be sent again.
	{errs: []error{domain.ErrStale}, status: fiber.StatusConflict, code: "conflict_retry", title: "Conflict",
		detail: "the account changed while this request ran; retry"},
	{errs: []error{domain.ErrConflict}, status: fiber.StatusConflict, code: "conflict", title: "Conflict",
		detail: "the email address or username is already taken"},
}

// mapFiberError maps the errors Fiber and fasthttp raise themselves (routing, limits).
func mapFiberError(fe *fiber.Error) mapped {
	switch fe.Code {
	case fiber.StatusNotFound:
		m := problemOf(fe.Code, "route_not_found", "Not found", "no route matches this path")
		m.routeNotFound = true
		return m
	case fiber.StatusMethodNotAllowed:
		m := problemOf(fe.Code, "method_not_allowed", "Method not allowed", "this path does not accept this method")
		m.routeNotFound = true
		return m
	case fiber.StatusRequestEntityTooLarge:
		return problemOf(fe.Code, "body_too_large", "Request body too large", "the request body exceeds the size limit")
	case fiber.StatusUnsupportedMediaType:
		return mapError(errUnsupportedMedia)
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return problemOf(fe.Code, "headers_too_large", "Request headers too large", "the request headers exceed the size limit")
	case fiber.StatusRequestTimeout:
		return problemOf(fe.Code, "request_timeout", "Request timeout", "the request was not received in time")
	case fiber.StatusBadRequest:
		// fasthttp's parse errors: never echo their text, it may quote the request.
		return problemOf(fe.Code, "malformed_request", "Malformed request", "the HTTP request could not be parsed")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return problemOf(fe.Code, "bad_request", "Bad request", "")
	}
	m := problemOf(fiber.StatusInternalServerError, "internal_error", "Internal server error", "")
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
