// Package httpapi is Portcullis's inbound HTTP adapter: a Fiber v2 server that exposes the
// application use cases as the JSON API described in openapi.yaml.
//
// It owns everything HTTP: routing, strict JSON decoding, the auth and role middleware, token
// transport (Authorization header, x-access-token header, cookies), CSRF and CORS checks,
// security headers, the access log and the mapping of errors to RFC 9457 problem+json, which
// lives in one place (errors.go). It depends on domain, ports and application only; the
// composition root (cmd/portcullis) turns the typed configuration into a Config and supplies
// the use cases, a KeySet for the JWKS and the readiness checkers through fx.
//
// Handlers never write error responses themselves: they return errors, and the error handler
// maps them to a status, a stable code and a problem document carrying the request id.
package httpapi
