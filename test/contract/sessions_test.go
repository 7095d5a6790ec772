package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestSessionStoreMemory(t *testing.T) {
	t.Parallel()
	SessionStore(t, func(t *testing.T) ports.SessionStore { return memstore.NewSessions() })
}
