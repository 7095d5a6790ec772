package redisstore

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestParseSentinelURL(t *testing.T) {
	o, err := parseSentinelURL("redis+sentinel://bob:s3cret@10.0.0.1:26379, 10.0.0.2:26380,10.0.0.3/mymaster/2?sentinel_password=sp&sentinel_username=su&dial_timeout=2s&pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:26379", "10.0.0.2:26380", "10.0.0.3:26379"}; !slices.Equal(o.SentinelAddrs, want) {
		t.Errorf("SentinelAddrs = %v, want %v", o.SentinelAddrs, want)
	}
	if o.MasterName != "mymaster" || o.DB != 2 {
		t.Errorf("master %q db %d, want mymaster 2", o.MasterName, o.DB)
	}
	if o.Username != "bob" || o.Password != "s3cret" || o.SentinelUsername != "su" || o.SentinelPassword != "sp" {
		t.Errorf("credentials: master %q/%q, sentinel %q/%q", o.Username, o.Password, o.SentinelUsername, o.SentinelPassword)
	}
	if o.DialTimeout != 2*time.Second || o.PoolSize != 7 || o.TLSConfig != nil {
		t.Errorf("options: dial %v pool %d tls %v", o.DialTimeout, o.PoolSize, o.TLSConfig)
	}

	// Without userinfo or db; an escaped master name; a password-only userinfo.
	o, err = parseSentinelURL("redis+sentinel://[::1]:26379/my%2Fmaster/")
	if err != nil || o.MasterName != "my/master" || o.DB != 0 || o.Password != "" || !slices.Equal(o.SentinelAddrs, []string{"[::1]:26379"}) {
		t.Fatalf("no userinfo: %v, %+v", err, o)
	}
	o, err = parseSentinelURL("redis+sentinel://:pw@s1/m")
	if err != nil || o.Username != "" || o.Password != "pw" || o.SentinelPassword != "" {
		t.Fatalf("password only: %v, %+v", err, o)
	}

	// TLS: no server name pinned to the first Sentinel, so each node is verified under its own.
	o, err = parseSentinelURL("rediss+sentinel://s1.example:26379,s2.example:26379/m")
	if err != nil || o.TLSConfig == nil || o.TLSConfig.ServerName != "" || o.TLSConfig.InsecureSkipVerify {
		t.Fatalf("TLS: %v, %+v", err, o)
	}
}

func TestNewClientSentinel(t *testing.T) {
	c, err := NewClient("redis+sentinel://u:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/3?read_timeout=2s&pool_size=3",
		Options{PoolSize: 9, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, ok := c.(*redis.Client)
	if !ok {
		t.Fatalf("got %T, want *redis.Client", c)
	}
	o := rc.Options()
	if o.Addr != "FailoverClient" || o.PoolSize != 9 || o.DialTimeout != time.Second || o.ReadTimeout != 2*time.Second ||
		o.DB != 3 || o.Username != "u" || o.Password != "pw" {
		t.Fatalf("options: addr %q pool %d dial %v read %v db %d user %q", o.Addr, o.PoolSize, o.DialTimeout, o.ReadTimeout, o.DB, o.Username)
	}

	ca := testenv.WriteCA(t)
	tc, err := NewClient("rediss+sentinel://s1.example:26379/m", Options{TLSCAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if cfg := tc.(*redis.Client).Options().TLSConfig; cfg == nil || cfg.RootCAs == nil || cfg.ServerName != "" {
		t.Fatalf("sentinel TLS config %+v, want the CA pool and no pinned server name", cfg)
	}
	if _, err := NewClient("redis+sentinel://s1:26379/m", Options{TLSCAFile: ca}); err == nil {
		t.Error("CA file with plain redis+sentinel://: nil error")
	}
}

func TestNewClientRejectsSentinel(t *testing.T) {
	for _, u := range []string{
		"redis+sentinel://",
		"redis+sentinel://user:hunter2@s1:26379",
		"redis+sentinel://user:hunter2@s1:26379/",
		"redis+sentinel://user:hunter2@s1:26379/m/1/2",
		"redis+sentinel://user:hunter2@s1:26379/m/x",
		"redis+sentinel://user:hunter2@s1:26379/m/-1",
		"redis+sentinel://user:hunter2@s1:26379/m?bogus=1",
		"redis+sentinel://user:hunter2@s1:26379/m?master_name=other",
		"redis+sentinel://user:hunter2@s1:26379/m?addr=s2:26379",
		"redis+sentinel://user:hunter2@s1:26379/m?db=1",
		"redis+sentinel://user:hunter2@s1:26379/m#frag",
		"redis+sentinel://user:hunter2%zz@s1:26379/m",
		"redis+sentinel://s1:26379/m?sentinel_password=hunter2%zz",
		"redis+sentinel://user:hunter2@s1:notaport/m",
		"redis+sentinel://user:hunter2@s1:26379,s2:x/m",
		"redis+sentinel://user:hun/ter2@s1:26379/m",
		"redis+sentinel://user:hunter2/x@s1:26379/m",
	} {
		_, err := NewClient(u, Options{})
		if err == nil {
			t.Errorf("NewClient(%q): no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewClient(%q) leaks the password: %v", u, err)
		}
	}
}

// With no Sentinel answering, Open and the Pinger report the store unavailable.
func TestSentinelUnreachable(t *testing.T) {
	dead := testenv.FreeAddr(t)
	url := "redis+sentinel://" + dead + "/mymaster?dial_timeout=200ms&max_retries=-1&dialer_retries=1"
	if _, err := Open(t.Context(), url, Options{}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Open with no Sentinel = %v, want ErrUnavailable", err)
	}
	c, err := NewClient(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := NewPinger(c).Ping(t.Context()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Ping with no Sentinel = %v, want ErrUnavailable", err)
	}
}

// Against the Sentinel set of PORTCULLIS_TEST_REDIS_SENTINEL_URL: the client reaches the master
// the Sentinels name, survives a dead Sentinel in the list, and an unknown master name is
// unavailable.
func TestSentinelLive(t *testing.T) {
	url := testenv.RedisSentinelURL(t)
	o, err := parseSentinelURL(url)
	if err != nil {
		t.Fatal(err)
	}
	// The master, as the Sentinels name it.
	sc := redis.NewSentinelClient(&redis.Options{Addr: o.SentinelAddrs[0], Username: o.SentinelUsername, Password: o.SentinelPassword})
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(t.Context(), o.MasterName).Result()
	if err != nil {
		t.Fatalf("sentinel get-master-addr-by-name: %v", err)
	}
	master := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(hp[0], hp[1]), Username: o.Username, Password: o.Password, DB: o.DB})
	defer master.Close()

	prefix := testenv.RedisSentinelPrefix(t)
	scheme, rest, _ := strings.Cut(url, "://")
	withDead := scheme + "://" + testenv.FreeAddr(t) + "," + rest // a dead Sentinel first: the others answer
	for _, u := range []string{url, withDead} {
		c, err := Open(t.Context(), u, Options{DialTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open %s: %v", u, err)
		}
		if err := NewPinger(c).Ping(t.Context()); err != nil {
			t.Errorf("Ping %s: %v", u, err)
		}
		key := prefix + "probe"
		if err := c.Set(t.Context(), key, u, time.Minute).Err(); err != nil {
			t.Fatalf("SET via %s: %v", u, err)
		}
		if got, err := master.Get(t.Context(), key).Result(); err != nil || got != u {
			t.Errorf("the master %s has %q, %v; want %q", master.Options().Addr, got, err, u)
		}
		_ = c.Close()
	}

	// An unknown master name: every Sentinel answers that it knows none.
	path := strings.IndexByte(rest, '/')
	unknown := scheme + "://" + rest[:path] + "/no-such-master"
	if _, err := Open(t.Context(), unknown, Options{MaxRetries: -1}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("Open with an unknown master = %v, want ErrUnavailable", err)
	}
}
