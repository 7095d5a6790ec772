package domain

import (
	"errors"
	"strconv"
	"time"
)

// ErrThrottled: too many attempts from one client or against one account; the request was
// refused without being acted on and may be sent again after a while. Match it with errors.Is;
// errors.As with a *ThrottledError gives how long to wait.
var ErrThrottled = errors.New("too many requests")

// ThrottledError is ErrThrottled with its details: RetryAfter is how long the caller must wait
// before the next attempt can succeed (never negative); Limit, when positive, is the number of
// attempts the exhausted limit allows per window, for the RateLimit-* response headers.
type ThrottledError struct {
	RetryAfter time.Duration
	Limit      int
	Window     time.Duration
}

// Throttled returns a *ThrottledError asking the caller to wait retryAfter (clamped to zero).
func Throttled(retryAfter time.Duration) *ThrottledError {
	return &ThrottledError{RetryAfter: max(retryAfter, 0)}
}

// Error says how long to wait, in whole seconds rounded up.
func (e *ThrottledError) Error() string {
	return "too many requests: retry after " + strconv.Itoa(e.RetrySeconds()) + "s"
}

// Is makes a ThrottledError match ErrThrottled.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// RetrySeconds is RetryAfter in whole seconds, rounded up and at least 1, as Retry-After wants it.
func (e *ThrottledError) RetrySeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}
