package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestUserDirectoryMemory(t *testing.T) {
	t.Parallel()
	UserDirectory(t, func(t *testing.T) (ports.UserStore, ports.UserDirectory) {
		st := memstore.NewUsers()
		return st, st
	})
}

func TestUserDirectorySQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		UserDirectory(t, func(t *testing.T) (ports.UserStore, ports.UserDirectory) {
			db := e.open(t)
			return sqlstore.NewUsers(db), sqlstore.NewDirectory(db)
		})
	})
}
