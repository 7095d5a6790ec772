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
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		AuditLog(t, func(t *testing.T) ports.AuditLog { return sqlstore.NewAuditLog(e.open(t)) })
	})
}
