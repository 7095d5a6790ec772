package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestOneTimeTokensMemory(t *testing.T) {
	t.Parallel()
	OneTimeTokens(t, func(t *testing.T) ports.OneTimeTokens { return memstore.NewOneTimeTokens() })
}

func TestOneTimeTokensSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		OneTimeTokens(t, func(t *testing.T) ports.OneTimeTokens { return sqlstore.NewOneTimeTokens(e.open(t)) })
	})
}

func TestMailOutboxMemory(t *testing.T) {
	t.Parallel()
	MailOutbox(t, func(*testing.T) (ports.MailOutbox, ports.OneTimeTokens) {
		tokens := memstore.NewOneTimeTokens()
		return memstore.NewOutbox(tokens), tokens
	})
}

func TestMailOutboxSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		MailOutbox(t, func(t *testing.T) (ports.MailOutbox, ports.OneTimeTokens) {
			db := e.open(t)
			return sqlstore.NewOutbox(db), sqlstore.NewOneTimeTokens(db)
		})
	})
}
