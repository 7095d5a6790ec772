package system

import (
	"time"

	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/ports"
)

// Module provides the wall clock as ports.Clock and UUIDv7 identifiers as ports.IDSource.
var Module = fx.Module("system",
	fx.Provide(
		fx.Annotate(NewClock, fx.As(new(ports.Clock))),
		fx.Annotate(NewIDs, fx.As(new(ports.IDSource))),
	),
)

// Clock is the wall clock. Its times are in UTC. The zero value is ready to use.
type Clock struct{}

// NewClock returns the wall clock.
func NewClock() Clock { return Clock{} }

// Now returns the current time in UTC (with the monotonic reading stripped by UTC, so values
// compare and serialise the same way after a round trip through a store).
func (Clock) Now() time.Time { return time.Now().UTC() }

// IDs makes UUIDv7 identifiers: unique, and ordered by creation time to the millisecond, which
// keeps database indexes on them append-mostly. Safe for concurrent use. The zero value is ready
// to use.
type IDs struct{}

// NewIDs returns a UUIDv7 identifier source.
func NewIDs() IDs { return IDs{} }

// NewID returns a new UUIDv7 in its canonical 36-character string form. It panics only if the
// system's random source fails, after which nothing secure can be done anyway.
func (IDs) NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
