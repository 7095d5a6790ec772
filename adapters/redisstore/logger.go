package redisstore

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// slogPrinter routes go-redis's own messages (Sentinel master changes, cluster reloads, pool
// warnings, dial retries) into the service log at debug instead of the process's standard
// error: the error that matters reaches the caller.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.log.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// useLogger sends go-redis's package-wide log to log. go-redis keeps one logger per process,
// so the last Redis client built decides; every client of a Portcullis process shares its log.
func useLogger(log *slog.Logger) {
	if log != nil {
		redis.SetLogger(slogPrinter{log: log})
	}
}
