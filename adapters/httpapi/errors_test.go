package httpapi

import (
	"errors"
	"fmt"
	"testing"

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
