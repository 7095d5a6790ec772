// Package memstore holds in-process implementations of the store ports: Sessions
// (ports.SessionStore), Users (ports.UserStore and ports.UserDirectory), Keys (ports.KeyStore),
// OneTimeTokens (ports.OneTimeTokens), AuditLog (ports.AuditLog) and RateLimiter
// (ports.RateLimiter).
//
// They serve two purposes. With PORTCULLIS_SESSION_STORE=memory, Sessions is the session store
// of a single Portcullis process (sessions are lost on restart and not shared between
// instances). And they are the fakes of the application's unit tests: no hand-written mocks of
// ports. Each type honours its port's contract exactly as the real adapters do (the same
// contract suite in test/contract runs against them), is safe for concurrent use, and copies
// every slice in and out so that a caller never shares memory with the store.
//
// memstore imports domain and ports only (and fx for Module); it sits at the edge of the
// hexagon like every other adapter.
package memstore

import (
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// Module provides Sessions as the ports.SessionStore. cmd/portcullis includes it when
// PORTCULLIS_SESSION_STORE=memory; it needs nothing from the graph.
var Module = fx.Module("memstore",
	fx.Provide(fx.Annotate(NewSessions, fx.As(new(ports.SessionStore)))),
)
