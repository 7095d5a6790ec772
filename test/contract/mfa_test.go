package contract

import (
	"testing"

	"github.com/portcullis-auth/portcullis/adapters/memstore"
	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/adapters/sqlstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestTOTPFactorsMemory(t *testing.T) {
	t.Parallel()
	TOTPFactors(t, func(t *testing.T) ports.TOTPFactors { return memstore.NewTOTPFactors() })
}

func TestTOTPFactorsSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		TOTPFactors(t, func(t *testing.T) ports.TOTPFactors { return sqlstore.NewTOTPFactors(e.open(t)) })
	})
}

func TestRecoveryCodesMemory(t *testing.T) {
	t.Parallel()
	RecoveryCodes(t, func(t *testing.T) ports.RecoveryCodes { return memstore.NewRecoveryCodes() })
}

func TestRecoveryCodesSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		RecoveryCodes(t, func(t *testing.T) ports.RecoveryCodes { return sqlstore.NewRecoveryCodes(e.open(t)) })
	})
}

func TestChallengesMemory(t *testing.T) {
	t.Parallel()
	Challenges(t, func(t *testing.T) ports.Challenges { return memstore.NewChallenges() })
}

func TestChallengesSQL(t *testing.T) {
	eachSQLEngine(t, func(t *testing.T, e sqlEngine) {
		Challenges(t, func(t *testing.T) ports.Challenges { return sqlstore.NewChallenges(e.open(t)) })
	})
}

func TestChallengesRedis(t *testing.T) {
	t.Parallel()
	url := testenv.RedisURL(t)
	Challenges(t, func(t *testing.T) ports.Challenges {
		return openRedisStore(t, url, testenv.RedisPrefix(t), redisstore.NewChallenges)
	})
}

func TestChallengesRedisCluster(t *testing.T) {
	t.Parallel()
	url := redisClusterURL(t)
	Challenges(t, func(t *testing.T) ports.Challenges {
		return openRedisStore(t, url, testenv.RedisClusterPrefix(t), redisstore.NewChallenges)
	})
}
