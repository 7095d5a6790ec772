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
	for _, e := range sqlEngines {
		t.Run(e.name, func(t *testing.T) {
			UserDirectory(t, func(t *testing.T) (ports.UserStore, ports.UserDirectory) {
				db := openSQL(t, e.url(t))
				return sqlstore.NewUsers(db), sqlstore.NewDirectory(db)
			})
		})
	}
}
