package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/ports"
)

// The memory stores are the fakes of the unit tests: they must keep the same contracts.

func TestUserStoreMemory(t *testing.T) {
	t.Parallel()
	UserStore(t, func(*testing.T) ports.UserStore { return memstore.NewUsers() })
}

func TestKeyStoreMemory(t *testing.T) {
	t.Parallel()
	KeyStore(t, func(*testing.T) ports.KeyStore { return memstore.NewKeys() })
}
