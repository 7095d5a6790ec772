package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/domain"
)

// A use case refusing with domain.ErrThrottled becomes 429 too_many_requests with Retry-After
// (whole seconds, rounded up) and the RateLimit-* fields of the exhausted limit.
func TestThrottledIs429WithRetryAfter(t *testing.T) {
	e := newEnv(t)
	e.srv.App().Get("/throttled", func(*fiber.Ctx) error {
		return fmt.Errorf("login: %w", &domain.ThrottledError{RetryAfter: 41500 * time.Millisecond, Limit: 5, Window: time.Minute})
	})
	r := e.do(req("GET", "/throttled", nil))
	expectProblem(t, r, 429, "too_many_requests")
	for h, want := range map[string]string{"Retry-After": "42", "RateLimit-Limit": "5", "RateLimit-Remaining": "0",
		"RateLimit-Reset": "42", "Cache-Control": "no-store"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}
