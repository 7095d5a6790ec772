package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestPasskeysMemory(t *testing.T) {
	t.Parallel()
	Passkeys(t, func(t *testing.T) ports.Passkeys { return memstore.NewPasskeys() })
}

func TestPasskeysSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		Passkeys(t, func(t *testing.T) ports.Passkeys { return sqlstore.NewPasskeys(e.open(t)) })
	})
}
