package ports

import (
	"context"
	"time"
)

type requestStartKey struct{}

// WithRequestStart records when the request that ctx serves began (the HTTP adapter sets it
// first thing). A cache whose freshness check is shared between callers may answer a call with
// any check made after this moment: "read on the very next request" (README, the user cache)
// is about changes acknowledged before the request began.
func WithRequestStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, requestStartKey{}, t)
}

// RequestStart is the time WithRequestStart recorded, if any.
func RequestStart(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(requestStartKey{}).(time.Time)
	return t, ok
}
