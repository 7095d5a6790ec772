package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
)

// Config is what the telemetry adapter needs; cmd/portcullis fills it from config.Config.
type Config struct {
	// MetricsAddr, when set, serves /metrics on its own listener (an internal port) instead of
	// on the API's.
	MetricsAddr string
	// Pprof also serves the Go runtime's profiles (net/http/pprof) under /debug/pprof/ on the
	// MetricsAddr listener; it is never served on the API's.
	Pprof bool
	// OTLPEndpoint, when set, turns tracing on: the OTLP/HTTP base URL spans are exported to.
	OTLPEndpoint string
	// Build names the running binary.
	Build Build
}

// KeyAge reports the age of the signing key; the token adapter provides it.
type KeyAge func() time.Duration

// HTTP is what the HTTP server reports to and serves: it implements httpapi.Telemetry.
type HTTP struct {
	*Metrics
	tracing *Tracing
	handler http.Handler // nil: /metrics is on its own listener
}

// MetricsHandler serves /metrics on the API listener, nil when PORTCULLIS_METRICS_ADDR moves it.
func (h *HTTP) MetricsHandler() http.Handler { return h.handler }

// Tracer is the request tracer, nil when tracing is off.
func (h *HTTP) Tracer() trace.Tracer { return h.tracing.Tracer() }

// NewHTTP binds metrics and tracing for the HTTP server.
func NewHTTP(cfg Config, m *Metrics, t *Tracing) *HTTP {
	h := &HTTP{Metrics: m, tracing: t}
	if cfg.MetricsAddr == "" {
		h.handler = m.Handler()
	}
	return h
}

func newTracing(lc fx.Lifecycle, cfg Config, log *slog.Logger) (*Tracing, error) {
	if cfg.OTLPEndpoint == "" {
		return Off(), nil
	}
	t, err := NewOTLP(context.Background(), cfg.OTLPEndpoint, cfg.Build)
	if err != nil {
		return nil, err
	}
	log.Info("tracing on", "otlp_endpoint", cfg.OTLPEndpoint)
	lc.Append(fx.StopHook(t.Shutdown))
	return t, nil
}

// serveMetrics runs the separate /metrics listener of PORTCULLIS_METRICS_ADDR, with the runtime's
// profiles under /debug/pprof/ when PORTCULLIS_PPROF asks for them.
func serveMetrics(lc fx.Lifecycle, cfg Config, m *Metrics, log *slog.Logger) {
	if cfg.MetricsAddr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if cfg.Pprof {
		// The handlers are mounted on this mux only: net/http/pprof's import also puts them on
		// http.DefaultServeMux, which nothing in Portcullis serves.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	// A CPU profile or a trace answers after the seconds asked for: net/http/pprof moves the
	// write deadline on by as much.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.MetricsAddr)
			if err != nil {
				return fmt.Errorf("PORTCULLIS_METRICS_ADDR: listen on %s: %w", cfg.MetricsAddr, err)
			}
			log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
			if cfg.Pprof {
				log.Info("profiles listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
			}
			go func() {
				defer close(done)
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("metrics server stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			<-done
			return err
		},
	})
}

// Module provides *Metrics, *Tracing and *HTTP, decorates the store ports and the password
// hasher (not the session store, which the composition root decorates once with its cache
// and ObserveSessions), and runs the separate metrics listener when configured. The graph must provide
// Config, KeyAge and *slog.Logger. It is fx.Options, not fx.Module, because its decorations
// must reach the whole graph, not a module's scope.
var Module = fx.Options(
	fx.Provide(
		func(cfg Config, age KeyAge) *Metrics { return NewMetrics(cfg.Build, age) },
		newTracing,
		NewHTTP,
	),
	fx.Decorate(
		ObserveUsers, ObserveDirectory, ObserveOneTimeTokens, ObserveAudit, ObserveKeys,
		ObserveRateLimiter, TraceHasher,
	),
	fx.Invoke(serveMetrics),
)
