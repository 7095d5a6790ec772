// Package telemetry is the observability adapter: Prometheus metrics (client_golang) and
// OpenTelemetry traces. It watches the core from the edges only — decorators of the store
// ports and of the password hasher, and the audit trail's login outcomes — so that neither the
// domain nor the use cases nor the other adapters know it exists. The HTTP adapter reports its
// requests to the RequestObserver this package implements and serves the handler it builds.
//
// Tracing is off, and costs nothing, unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then spans are
// exported by OTLP over HTTP (the standard OTEL_* variables configure the exporter).
package telemetry
