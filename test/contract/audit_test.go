package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestAuditLogMemory(t *testing.T) {
	t.Parallel()
	AuditLog(t, func(t *testing.T) ports.AuditLog { return memstore.NewAuditLog() })
}

func TestAuditLogSQL(t *testing.T) {
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) {
			AuditLog(t, func(t *testing.T) ports.AuditLog { return sqlstore.NewAuditLog(openSQL(t, e.url(t))) })
		})
	}
}
