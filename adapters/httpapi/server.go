package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/application"
	"github.com/portcullis-auth/portcullis/ports"
)

// Config is what the HTTP server needs to know; cmd/portcullis fills it from config.Config.
type Config struct {
	// Addr is the listen address, e.g. ":8080" (":0" picks a free port; see Server.Addr).
	Addr string
	// PublicURL is the external base URL; its origin is always an allowed origin.
	PublicURL string
	// AllowedOrigins are the exact origins (scheme://host[:port]) allowed for CORS with
	// credentials and for cookie-authenticated writes.
	AllowedOrigins []string
	// TrustedProxies are IPs or CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string
	// SecureCookies marks cookies Secure with __Host-/__Secure- prefixes and sends HSTS.
	SecureCookies bool
	// BodyLimit is the largest request body in bytes; RequestTimeout bounds the time a request
	// may spend in the use cases; ShutdownTimeout bounds how long stopping waits for in-flight
	// requests. Each must be positive: their defaults are config's (BODY_LIMIT,
	// REQUEST_TIMEOUT, SHUTDOWN_TIMEOUT), which cmd/portcullis passes.
	BodyLimit       int
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	// Compat adds another API's routes and shapes: "" (none) or CompatSeed (compat.go).
	Compat string
	// AdminRequireMFA makes the admin-only routes demand a session opened with a second factor.
	AdminRequireMFA bool
	// NoAccessLog leaves out the access-log line of each request (config ACCESS_LOG=false),
	// whatever the log level.
	NoAccessLog bool
	// KeepConnBuffers lets a kept-alive connection keep its read and write buffers between
	// requests (config KEEP_CONN_BUFFERS): fewer system calls per request, about 100 KiB held
	// per open connection, idle or not.
	KeepConnBuffers bool
}

const (
	// readBufferSize bounds what fasthttp reads of the request line and headers. It is big
	// enough to take in a 64 KiB Authorization header (SECURITY C26) whole, so that such a
	// request gets a clean 431 from limitHeaders instead of a connection reset mid-write;
	// anything beyond it (a million dots) is cut off by fasthttp, also with a 431.
	readBufferSize = 96 << 10
	// maxHeaderBytes is the most header bytes a request may carry: a browser's headers with
	// our cookies and those of sibling apps fit comfortably (nginx allows 4 x 8 KiB).
	maxHeaderBytes = 32 << 10
	// pingTimeout bounds each readiness check.
	pingTimeout = 2 * time.Second
)

// KeySet publishes the public signing keys. The token adapter implements it.
type KeySet interface {
	// JWKS returns the JSON Web Key Set (RFC 7517) of the active and still-valid retired keys,
	// public members only.
	JWKS() ([]byte, error)
	// JWKSMaxAge is how long a copy of the key set may be kept (whole seconds are sent): short
	// enough that a key published ahead of a rotation is in every fresh copy before it signs.
	JWKSMaxAge() time.Duration
}

// Deps are the use cases and services the handlers call. With fx, every field is provided by
// other modules; Readiness collects every ports.Pinger provided into the "readiness" group.
type Deps struct {
	fx.In

	Register       *application.Register
	Login          *application.Login
	Refresh        *application.Refresh
	Logout         *application.Logout
	Authenticate   *application.Authenticate
	Profile        *application.Profile
	ChangePassword *application.ChangePassword
	Sessions       *application.Sessions
	Keys           KeySet
	Readiness      []ports.Pinger `group:"readiness"`
	Log            *slog.Logger
	Admin          *application.Admin      // /api/users
	Audit          *application.AuditTrail // /api/audit
	// Throttle limits registration, mail and token guessing per client address (login is
	// throttled in its use case); nil throttles nothing.
	Throttle *application.Throttle `optional:"true"`
	// Locks serves /api/users/{id}/lock and /unlock; nil leaves those routes out.
	Locks         *application.Locks `optional:"true"`
	VerifyEmail   *application.VerifyEmail
	PasswordReset *application.PasswordReset
	ChangeEmail   *application.ChangeEmail
	MFAVerify     *application.MFAVerify // /api/auth/mfa/verify
	TOTP          *application.TOTPSetup // /api/users/me/mfa..., /api/users/{id}/mfa
	Passkeys      *application.Passkeys  // /api/users/me/passkeys..., /api/auth/passkey/...
	// Telemetry, when provided, is told of every request, serves /metrics and traces.
	Telemetry Telemetry `optional:"true"`
}

// Server is the HTTP server: a configured Fiber app plus its listener lifecycle.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	app     *fiber.App
	cookies cookieNames
	origins map[string]struct{}
	proxies []netip.Prefix
	pages   map[string]linkPage // the link pages by path

	telemetry Telemetry    // nil: no metrics, no traces
	tracer    trace.Tracer // nil: tracing off

	mu     sync.Mutex
	ln     net.Listener
	served chan struct{}
}

// NewServer builds the Fiber app with its middleware and routes. It fails on a TrustedProxies
// or AllowedOrigins entry it cannot parse, a limit left unset, or a missing dependency.
func NewServer(cfg Config, deps Deps) (*Server, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Log, cookies: newCookieNames(cfg.SecureCookies),
		origins: map[string]struct{}{}}
	if err := s.check(); err != nil {
		return nil, err
	}
	fc := fiber.Config{
		AppName:               "portcullis",
		DisableStartupMessage: true,
		CaseSensitive:         true,
		Immutable:             true, // values from the request outlive it (user agent stored in a session)
		BodyLimit:             cfg.BodyLimit,
		ReadBufferSize:        readBufferSize,
		// By default a kept-alive connection gives its read and write buffers back to fasthttp's
		// pools between requests instead of holding them while idle: with the 96 KiB read buffer
		// (readBufferSize), 32 busy keep-alive connections otherwise hold 3 MB of the heap,
		// half of it under /api/users/me load, and idle or slow clients could pin 100 KiB each.
		// It costs a one-byte read(2) per request; KeepConnBuffers saves it where a proxy in
		// front holds the connections (see docs/performance.md, "Memory").
		ReduceMemoryUsage: !cfg.KeepConnBuffers,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorHandler:      s.handleError,
	}
	// Fiber's proxy settings are left off: c.IP() with a proxy header returns the leftmost,
	// client-forgeable X-Forwarded-For hop. clientIP walks the header from the right instead,
	// believing only the configured proxies, and is the one place the client address comes from.
	s.app = fiber.New(fc)
	if deps.Telemetry != nil {
		s.telemetry, s.tracer = deps.Telemetry, deps.Telemetry.Tracer()
	}
	s.routes()
	if s.tracer != nil {
		s.traceUseCases()
	}
	return s, nil
}

// check parses the origins and trusted proxies of the configuration into s, and reports every
// entry it cannot parse, a limit left unset, an unknown compatibility mode and a missing
// dependency, joined.
func (s *Server) check() error {
	var problems []error
	for _, o := range append([]string{s.cfg.PublicURL}, s.cfg.AllowedOrigins...) {
		if o == "" {
			continue
		}
		origin := originOf(o)
		if origin == "" || strings.Contains(o, "*") {
			problems = append(problems, fmt.Errorf("httpapi: %q is not an origin like https://app.example.com", o))
			continue
		}
		s.origins[origin] = struct{}{}
	}
	for _, p := range s.cfg.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				problems = append(problems, fmt.Errorf("httpapi: trusted proxy %q is not an IP or CIDR", p))
				continue
			}
			prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		s.proxies = append(s.proxies, prefix.Masked())
	}
	if s.cfg.BodyLimit <= 0 || s.cfg.RequestTimeout <= 0 || s.cfg.ShutdownTimeout <= 0 {
		problems = append(problems, errors.New("httpapi: BodyLimit, RequestTimeout and ShutdownTimeout must be positive"))
	}
	if s.cfg.Compat != "" && s.cfg.Compat != CompatSeed {
		problems = append(problems, fmt.Errorf("httpapi: unknown compatibility mode %q (known: %q)", s.cfg.Compat, CompatSeed))
	}
	if s.deps.Register == nil || s.deps.Login == nil || s.deps.Refresh == nil || s.deps.Logout == nil ||
		s.deps.Authenticate == nil || s.deps.Profile == nil || s.deps.ChangePassword == nil || s.deps.Sessions == nil || s.deps.Keys == nil ||
		s.deps.Admin == nil || s.deps.Audit == nil || s.deps.VerifyEmail == nil || s.deps.PasswordReset == nil || s.deps.ChangeEmail == nil ||
		s.deps.MFAVerify == nil || s.deps.TOTP == nil || s.deps.Passkeys == nil {
		problems = append(problems, errors.New("httpapi: every use case and the key set must be provided"))
	}
	return errors.Join(problems...)
}

// App returns the Fiber app, for tests (app.Test) and for mounting extra routes before start.
func (s *Server) App() *fiber.App { return s.app }

// Start listens on cfg.Addr and serves in the background. A bad or occupied address fails
// here, with the address in the error, so that the process does not start half-way.
func (s *Server) Start(context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen on %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.ln, s.served = ln, make(chan struct{})
	s.mu.Unlock()
	s.log.Info("http server listening", "url", ListenURL(ln.Addr()), "addr", ln.Addr().String())
	go func() {
		defer close(s.served)
		if err := s.app.Listener(ln); err != nil {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

// ListenURL is the URL a browser on this machine reaches a server listening on a at:
// http://localhost:PORT when it listens on every interface, else http://HOST:PORT.
func ListenURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String()
	}
	if ip, perr := netip.ParseAddr(host); perr == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Addr is the address the server listens on once started, nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop closes the listener and waits up to cfg.ShutdownTimeout (or ctx's deadline, if sooner)
// for in-flight requests to finish, then closes the remaining connections.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if served == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.app.ShutdownWithContext(ctx)
	select {
	case <-served:
	case <-ctx.Done():
	}
	if err != nil {
		return fmt.Errorf("httpapi: shutdown: %w", err)
	}
	s.log.Info("http server stopped")
	return nil
}

// Prerequisite is what another module provides, into the value group PrerequisiteGroup, for
// work that must be done before the listener opens (the first admin's creation). Its
// constructor registers that work as a start hook; the listener's hook is registered after
// every prerequisite was constructed, so fx starts it after theirs — by the graph's
// dependencies, not by the order in which modules are listed.
type Prerequisite struct{ Name string }

// PrerequisiteGroup is the fx value-group tag of Prerequisite values.
const PrerequisiteGroup = `group:"httpapi.prerequisites"`

// listenerDeps is what Module's start hook waits for.
type listenerDeps struct {
	fx.In
	Lifecycle     fx.Lifecycle
	Server        *Server
	Prerequisites []Prerequisite `group:"httpapi.prerequisites"`
}

// Module provides *Server and ties its listener to the fx lifecycle, after every
// Prerequisite. It needs a Config and everything in Deps: the use cases, a KeySet, a
// *slog.Logger and any number of ports.Pinger in the "readiness" value group.
var Module = fx.Module("httpapi",
	fx.Provide(NewServer),
	fx.Invoke(func(in listenerDeps) {
		in.Lifecycle.Append(fx.Hook{OnStart: in.Server.Start, OnStop: in.Server.Stop})
	}),
)
