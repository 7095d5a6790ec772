package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestUserStoreSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		UserStore(t, func(t *testing.T) ports.UserStore { return sqlstore.NewUsers(e.open(t)) })
	})
}

func TestKeyStoreSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		KeyStore(t, func(t *testing.T) ports.KeyStore { return sqlstore.NewKeys(e.open(t)) })
	})
}

func TestSessionStoreSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		SessionStore(t, func(t *testing.T) ports.SessionStore { return sqlstore.NewSessions(e.open(t)) })
	})
}
