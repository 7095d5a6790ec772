package redisstore

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestParseClusterURL(t *testing.T) {
	o, err := parseClusterURL("redis+cluster://bob:s3cret@10.0.0.1:7001,10.0.0.2:7002, 10.0.0.3:7003/?dial_timeout=2s&pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:7001", "10.0.0.2:7002", "10.0.0.3:7003"}; !slices.Equal(o.Addrs, want) {
		t.Errorf("Addrs = %v, want %v", o.Addrs, want)
	}
	if o.Username != "bob" || o.Password != "s3cret" || o.DialTimeout != 2*time.Second || o.PoolSize != 7 || o.TLSConfig != nil {
		t.Errorf("options = user %q pass %q dial %v pool %d tls %v", o.Username, o.Password, o.DialTimeout, o.PoolSize, o.TLSConfig)
	}
	o, err = parseClusterURL("rediss+cluster://a:6380,b:6380")
	if err != nil || o.TLSConfig == nil || o.TLSConfig.ServerName != "" {
		t.Fatalf("TLS cluster: %v, %+v", err, o)
	}
}

func TestNewClientRejects(t *testing.T) {
	for _, u := range []string{
		"",
		"http://host:6379",
		"redis+cluster:///",
		"redis+cluster://a:1,b:2/3",
		"redis+cluster://user:hunter2@a:1?bogus=1",
		"redis://user:hunter2@host:6379/notanumber",
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

func TestNewClientOptions(t *testing.T) {
	c, err := NewClient("redis://127.0.0.1:6379/2?pool_size=3", Options{PoolSize: 9, ReadTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o := c.(*redis.Client).Options()
	if o.PoolSize != 9 || o.ReadTimeout != time.Second || o.DB != 2 {
		t.Fatalf("options: pool %d read %v db %d", o.PoolSize, o.ReadTimeout, o.DB)
	}
}

func TestModuleWires(t *testing.T) {
	err := fx.ValidateApp(
		fx.Supply(Config{URL: "redis://127.0.0.1:6379/0", Prefix: "x:"}),
		Module,
		fx.Invoke(func(ports.SessionStore) {}),
		fx.Invoke(fx.Annotate(func([]ports.Pinger) {}, fx.ParamTags(`group:"readiness"`))),
	)
	if err != nil {
		t.Fatal(err)
	}
}

func TestModuleStartStop(t *testing.T) {
	var pingers []ports.Pinger
	app := fx.New(
		fx.NopLogger,
		fx.Supply(Config{URL: "redis://127.0.0.1:1/0", Options: Options{DialTimeout: 200 * time.Millisecond, MaxRetries: -1}}),
		Module,
		fx.Invoke(fx.Annotate(func(p []ports.Pinger) { pingers = p }, fx.ParamTags(`group:"readiness"`))),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pingers) != 1 || pingers[0].Name() != "sessions" {
		t.Fatalf("pingers = %v", pingers)
	}
	if err := app.Start(t.Context()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("start with Redis down = %v, want ErrUnavailable", err)
	}
}

// TestKindOf: the one reading of a Redis URL's scheme, which config checks
// PORTCULLIS_SESSION_STORE with and NewClient builds its client by.
func TestKindOf(t *testing.T) {
	tests := []struct {
		raw  string
		want URLKind
		ok   bool
	}{
		{"redis://h:6379/0", URLKind{Standalone, false}, true},
		{"rediss://u:p@h:6380/1", URLKind{Standalone, true}, true},
		{"redis+cluster://a:1,b:2", URLKind{Cluster, false}, true},
		{"rediss+cluster://a:1,b:2", URLKind{Cluster, true}, true},
		{"redis+sentinel://s1:26379/m", URLKind{Sentinel, false}, true},
		{"rediss+sentinel://s1:26379/m", URLKind{Sentinel, true}, true},
		{"127.0.0.1:6379", URLKind{}, false},
		{"sql", URLKind{}, false},
		{"http://h", URLKind{}, false},
		{"", URLKind{}, false},
	}
	for _, tt := range tests {
		got, err := KindOf(tt.raw)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("KindOf(%q) = %+v, %v; want %+v, ok %v", tt.raw, got, err, tt.want, tt.ok)
		}
		// NewClient refuses exactly what KindOf refuses: there is no second list.
		if c, err := NewClient(tt.raw, Options{}); (err == nil) != tt.ok {
			t.Errorf("NewClient(%q): %v, KindOf ok %v", tt.raw, err, tt.ok)
		} else if c != nil {
			_ = c.Close()
		}
	}
}

// TestNewClientBufferSizes: every topology gets Portcullis's connection and pipeline buffer
// sizes instead of go-redis's 32 KiB and 128 KiB, unless the URL sets its own.
func TestNewClientBufferSizes(t *testing.T) {
	type sizes struct{ read, write, pipeRead, pipeWrite int }
	ours := sizes{connBufferSize, connBufferSize, pipelineBufferSize, pipelineBufferSize}
	tests := []struct {
		url  string
		want sizes
	}{
		{"redis://127.0.0.1:6379/0", ours},
		{"redis://127.0.0.1:6379/0?pipeline_read_buffer_size=65536&pipeline_write_buffer_size=1024",
			sizes{connBufferSize, connBufferSize, 65536, 1024}},
		{"redis+cluster://127.0.0.1:7001,127.0.0.1:7002", ours},
		{"redis+sentinel://127.0.0.1:26379/mymaster", ours},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.url, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		var got sizes
		switch c := c.(type) {
		case *redis.Client:
			o := c.Options()
			got = sizes{o.ReadBufferSize, o.WriteBufferSize, o.PipelineReadBufferSize, o.PipelineWriteBufferSize}
		case *redis.ClusterClient:
			o := c.Options()
			got = sizes{o.ReadBufferSize, o.WriteBufferSize, o.PipelineReadBufferSize, o.PipelineWriteBufferSize}
		default:
			t.Fatalf("%s: client %T", tt.url, c)
		}
		_ = c.Close()
		if got != tt.want {
			t.Errorf("%s: buffers %+v, want %+v", tt.url, got, tt.want)
		}
	}
}
