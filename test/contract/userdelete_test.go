package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
)

func TestUserDeleteRemovesSecondFactorsMemory(t *testing.T) {
	t.Parallel()
	UserDeleteRemovesSecondFactors(t, func(t *testing.T) UserStores {
		totp, codes, passkeys := memstore.NewTOTPFactors(), memstore.NewRecoveryCodes(), memstore.NewPasskeys()
		return UserStores{Users: memstore.NewUsers().WithSecondFactors(totp, codes, passkeys), TOTP: totp, Codes: codes, Passkeys: passkeys}
	})
}

func TestUserDeleteRemovesSecondFactorsSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		UserDeleteRemovesSecondFactors(t, func(t *testing.T) UserStores {
			db := e.open(t)
			return UserStores{Users: sqlstore.NewUsers(db), TOTP: sqlstore.NewTOTPFactors(db), Codes: sqlstore.NewRecoveryCodes(db),
				Passkeys: sqlstore.NewPasskeys(db)}
		})
	})
}
