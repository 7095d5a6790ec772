package httpapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/domain"
)

// A lost optimistic update is a 409 the client may retry, distinct from a taken email or name.
func TestMapErrorStale(t *testing.T) {
	m := mapError(fmt.Errorf("update user: %w", domain.ErrStale))
	if m.problem.Status != 409 || m.problem.Code != "conflict_retry" || m.log || m.problem.Detail == "" {
		t.Fatalf("ErrStale maps to %+v", m)
	}
	if errors.Is(domain.ErrStale, domain.ErrConflict) {
		t.Fatal("ErrStale matches ErrConflict")
	}
	if c := mapError(domain.ErrConflict).problem.Code; c != "conflict" {
		t.Fatalf("ErrConflict maps to %s", c)
	}
}

// A throttled use case is a 429 too_many_requests carrying how long to wait; it is not logged
// as a failure (it is the service working as meant).
func TestMapErrorThrottled(t *testing.T) {
	m := mapError(fmt.Errorf("login: %w", &domain.ThrottledError{RetryAfter: 2500 * time.Millisecond, Limit: 5}))
	if m.problem.Status != 429 || m.problem.Code != "too_many_requests" || m.log || m.throttle == nil {
		t.Fatalf("ErrThrottled maps to %+v", m)
	}
	if m.throttle.RetrySeconds() != 3 || m.throttle.Limit != 5 {
		t.Fatalf("throttle details lost: %+v", m.throttle)
	}
	// The bare sentinel still gets a Retry-After of at least a second.
	if m := mapError(domain.ErrThrottled); m.problem.Status != 429 || m.throttle == nil || m.throttle.RetrySeconds() != 1 {
		t.Fatalf("bare ErrThrottled maps to %+v", m)
	}
}
