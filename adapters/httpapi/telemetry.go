package httpapi

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.yaml.in/yaml/v3"
)

// Telemetry is what the server reports its requests to and serves at /metrics. The telemetry
// adapter implements it; without one (Deps.Telemetry nil) the server records nothing.
type Telemetry interface {
	// ObserveRequest records one request: the route template ("" when no route matched),
	// method, status sent and time taken. It is called on every request and must be cheap.
	ObserveRequest(route, method string, status int, elapsed time.Duration)
	// MetricsHandler serves GET /metrics; nil when metrics are served on another listener.
	MetricsHandler() http.Handler
	// Tracer starts the request and use-case spans; nil when tracing is off.
	Tracer() trace.Tracer
}

// traceContext reads an incoming W3C traceparent, so a request continues its caller's trace.
var traceContext = propagation.TraceContext{}

// observe times every request for the metrics and, with tracing on, wraps it in a server span
// named after its route template. It runs right after the request id is set and around the
// access log, which has turned any error into the response by the time it returns.
func (s *Server) observe(c *fiber.Ctx) error {
	if s.telemetry == nil {
		return c.Next()
	}
	start := time.Now()
	var span trace.Span
	if s.tracer != nil {
		ctx := traceContext.Extract(c.UserContext(), propagation.HeaderCarrier(c.GetReqHeaders()))
		ctx, span = s.tracer.Start(ctx, c.Method(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", c.Method()),
				attribute.String("portcullis.request_id", requestID(c))))
		c.SetUserContext(ctx)
	}
	err := c.Next()
	route := c.Route().Path
	if c.Locals(ctxRouteNotFound) != nil {
		route = ""
	}
	status := c.Response().StatusCode()
	s.telemetry.ObserveRequest(route, c.Method(), status, time.Since(start))
	if span != nil {
		if route != "" {
			span.SetName(c.Method() + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		span.End()
	}
	return err
}

// metrics: GET /metrics, the Prometheus exposition of the telemetry adapter.
func (s *Server) metricsRoute() fiber.Handler {
	h := adaptor.HTTPHandler(s.telemetry.MetricsHandler())
	return func(c *fiber.Ctx) error {
		if err := h(c); err != nil {
			return err
		}
		// Metrics are read by scrapers only: no caching, and the default CSP applies.
		c.Set(fiber.HeaderCacheControl, "no-store")
		return nil
	}
}

// traceUseCases wraps the last handler of every route — the one that decodes the request and
// calls the use case — in a span named after the route's operationId in the OpenAPI document
// ("login", "refresh" ...), so a trace shows the use case apart from the middleware. It runs
// once, after every route is added, and only with tracing on.
func (s *Server) traceUseCases() {
	names := operationIDs()
	for _, routes := range s.app.Stack() {
		for _, r := range routes {
			name, ok := names[r.Method+" "+r.Path]
			if !ok || len(r.Handlers) == 0 {
				continue // middleware (Use) and HEAD twins of GET routes
			}
			last := r.Handlers[len(r.Handlers)-1]
			r.Handlers[len(r.Handlers)-1] = func(c *fiber.Ctx) error {
				ctx, span := s.tracer.Start(c.UserContext(), name)
				c.SetUserContext(ctx)
				defer span.End()
				return last(c)
			}
		}
	}
}

// operationIDs maps "METHOD /fiber/:path" to the operationId of every operation in the
// OpenAPI document.
func operationIDs() map[string]string {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	out := map[string]string{}
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		return out
	}
	param := regexp.MustCompile(`\{([^}/]+)\}`)
	for path, item := range doc.Paths {
		for method, op := range item {
			// Besides operations, a path item has "parameters", "summary" ...
			if m, ok := op.(map[string]any); ok {
				if id, ok := m["operationId"].(string); ok {
					out[strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1")] = id
				}
			}
		}
	}
	return out
}
