package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names the tracer of every Portcullis span.
const instrumentation = "github.com/portcullis-auth/portcullis"

// Tracing is the process's tracer provider, or nothing when tracing is off: then no span is
// ever started and the decorators and middleware cost nothing beyond a nil check.
type Tracing struct {
	provider trace.TracerProvider // nil: off
	shutdown func(context.Context) error
}

// Off is tracing turned off.
func Off() *Tracing { return &Tracing{} }

// WithProvider traces into p (tests use an SDK provider with an in-memory exporter).
func WithProvider(p trace.TracerProvider) *Tracing { return &Tracing{provider: p} }

// NewOTLP traces into an SDK provider that batches spans to the OTLP/HTTP exporter at endpoint
// (a base URL: spans go to endpoint/v1/traces). The exporter also reads the standard
// OTEL_EXPORTER_OTLP_* variables for headers, timeout and certificate.
func NewOTLP(ctx context.Context, endpoint string, build Build) (*Tracing, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("PORTCULLIS_OTLP_ENDPOINT: OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("portcullis"), semconv.ServiceVersion(build.Version)))
	if err != nil {
		res = resource.Default()
	}
	p := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{provider: p, shutdown: p.Shutdown}, nil
}

// On reports whether spans are recorded.
func (t *Tracing) On() bool { return t != nil && t.provider != nil }

// Tracer is Portcullis's tracer, nil when tracing is off.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer() }

func (t *Tracing) tracer() trace.Tracer {
	if !t.On() {
		return nil
	}
	return t.provider.Tracer(instrumentation)
}

// Shutdown flushes and stops the exporter, if any.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}
