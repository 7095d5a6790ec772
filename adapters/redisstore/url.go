package redisstore

import (
	"errors"
	"fmt"
	"strings"
)

// Topology is how a Redis URL reaches its data: one server, a Cluster, or the master a
// Sentinel set names.
type Topology string

// The topologies of the URL forms Open takes.
const (
	Standalone Topology = "standalone"
	Cluster    Topology = "cluster"
	Sentinel   Topology = "sentinel"
)

// URLKind is what a Redis URL's scheme says: its topology and whether it speaks TLS.
type URLKind struct {
	Topology Topology
	TLS      bool
}

// schemes are the URL schemes Open takes, each with what it says.
var schemes = map[string]URLKind{
	"redis":           {Standalone, false},
	"rediss":          {Standalone, true},
	"redis+cluster":   {Cluster, false},
	"rediss+cluster":  {Cluster, true},
	"redis+sentinel":  {Sentinel, false},
	"rediss+sentinel": {Sentinel, true},
}

// schemeList names the schemes for messages.
const schemeList = "redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://"

// KindOf reads a Redis URL's scheme, the forms Open takes (see there). It is the one reading of
// a Redis URL's kind: config checks PORTCULLIS_SESSION_STORE and PORTCULLIS_REDIS_TLS_CA_FILE
// with it (passed in by cmd/portcullis/app), and the composition root picks the session cache
// by it. Its errors are written to follow the variable's name.
func KindOf(rawURL string) (URLKind, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return URLKind{}, errors.New("must start with " + schemeList)
	}
	kind, ok := schemes[scheme]
	if !ok {
		return URLKind{}, fmt.Errorf("unsupported URL scheme %q: use %s", scheme, schemeList)
	}
	return kind, nil
}
