package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// clientLog is where go-redis's own messages go. go-redis keeps one logger per process in a
// plain variable, so it is set once (installPrinter) and every later change goes through this
// pointer: setting the library's variable again while another client of the same process is
// logging would be a data race.
var (
	clientLog      atomic.Pointer[slog.Logger]
	installPrinter sync.Once
)

// slogPrinter routes go-redis's own messages (Sentinel master changes, cluster reloads, pool
// warnings, dial retries) into the service log at debug instead of the process's standard
// error: the error that matters reaches the caller.
type slogPrinter struct{}

func (slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	if log := clientLog.Load(); log != nil {
		log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
	}
}

// useLogger sends go-redis's package-wide log to log. go-redis keeps one logger per process,
// so the last Redis client built decides; every client of a Portcullis process shares its log.
func useLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	clientLog.Store(log)
	installPrinter.Do(func() { redis.SetLogger(slogPrinter{}) })
}
