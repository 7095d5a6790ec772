package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// MariaDB Galera Cluster support. A mysql:// URL may name several servers, comma-separated:
//
//	mysql://user:pass@db1:3306,db2:3306,db3:3306/portcullis
//
// Every new pooled connection goes to the first server, in the URL's order, that accepts it and,
// when it is a Galera node, reports itself Synced (wsrep_local_state 4): a node that is down,
// still joining, or serving as a state-transfer donor is passed over for the next one. Open
// connections stay where they are until they fail or age out (Options.ConnMaxLifetime); a
// connection to a node that dies fails its statement in flight (the request answers 503) and the
// pool replaces it on the next use. With one server the health check is skipped: there is no
// other to choose.
//
// On a Galera node each connection also turns on causal reads, wsrep_sync_wait = 3 (reads, and
// the reads behind UPDATE and DELETE, first wait until the node has applied every write set the
// cluster committed before they began), unless the URL sets wsrep_sync_wait itself. Without it a
// logout or role change committed through one node could be missed for a moment by a read on
// another; docs/scaling.md gives its measured cost. Galera reports a transaction that lost
// certification to a concurrent write on another node as a deadlock (1213); every write path
// runs again on it (see retryConflict).

// galeraSyncWait is the wsrep_sync_wait a Galera connection gets unless the URL names one:
// bit 1 causal SELECT/SHOW/BEGIN, bit 2 causal UPDATE/DELETE.
const galeraSyncWait = "3"

// failoverConnector is the driver.Connector of a MySQL URL: one driver connector per server,
// tried in order.
type failoverConnector struct {
	hosts      []string
	connectors []driver.Connector
	// syncWait is the wsrep_sync_wait to set on Galera connections, "" when the URL set it.
	syncWait string
}

// newFailoverConnector builds one driver connector per host from cfg (whose Addr is ignored).
// A TLS configuration verifies each server under its own name.
func newFailoverConnector(cfg *mysql.Config, hosts []string) (*failoverConnector, error) {
	f := &failoverConnector{hosts: hosts, syncWait: galeraSyncWait}
	if _, set := cfg.Params["wsrep_sync_wait"]; set {
		f.syncWait = ""
	}
	for _, h := range hosts {
		c := cfg.Clone()
		c.Addr = h
		if c.TLS != nil && !c.TLS.InsecureSkipVerify {
			c.TLS.ServerName, _, _ = net.SplitHostPort(h)
		}
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return nil, fmt.Errorf("open mysql %s: %w", h, err)
		}
		f.connectors = append(f.connectors, conn)
	}
	return f, nil
}

// Connect opens a connection to the first server that takes it and is ready (see the package
// comment above). The error names every server's failure.
func (f *failoverConnector) Connect(ctx context.Context) (driver.Conn, error) {
	var errs []error
	for i, c := range f.connectors {
		conn, err := c.Connect(ctx)
		if err == nil {
			err = f.prepare(ctx, conn)
			if err != nil {
				_ = conn.Close()
			}
		}
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.hosts[i], err))
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	// database/sql retries a connection attempt only for driver.ErrBadConn; the joined error
	// keeps the causes, and the first cause's type for translate.
	return nil, fmt.Errorf("no usable MySQL server of %d: %w", len(f.hosts), errors.Join(errs...))
}

// Driver is the go-sql-driver/mysql driver.
func (f *failoverConnector) Driver() driver.Driver { return &mysql.MySQLDriver{} }

// errNodeNotReady is a Galera node that is up but not Synced (joining, donor, desynced).
var errNodeNotReady = errors.New("galera node is not synced")

// prepare checks a new connection: on a Galera node (wsrep_on), that the node is Synced when
// there are other servers to choose, then sets causal reads.
func (f *failoverConnector) prepare(ctx context.Context, conn driver.Conn) error {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return nil
	}
	on, err := showValue(ctx, q, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'")
	if err != nil || on != "ON" {
		return err // not a Galera node (MySQL, or MariaDB without wsrep): nothing to do
	}
	if len(f.connectors) > 1 {
		state, err := showValue(ctx, q, "SHOW GLOBAL STATUS LIKE 'wsrep_local_state'")
		if err != nil {
			return err
		}
		if state != "4" {
			return fmt.Errorf("%w (wsrep_local_state %s)", errNodeNotReady, state)
		}
	}
	if f.syncWait == "" {
		return nil
	}
	e, ok := conn.(driver.ExecerContext)
	if !ok {
		return nil
	}
	_, err = e.ExecContext(ctx, "SET SESSION wsrep_sync_wait = "+f.syncWait, nil)
	return err
}

// showValue runs a SHOW ... LIKE statement and returns the Value column of its row, or "" when
// it has none.
func showValue(ctx context.Context, q driver.QueryerContext, stmt string) (string, error) {
	rows, err := q.QueryContext(ctx, stmt, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		return "", err
	}
	if len(dest) < 2 {
		return "", nil
	}
	switch v := dest[1].(type) {
	case []byte:
		return string(v), nil
	case string:
		return v, nil
	}
	return fmt.Sprint(dest[1]), nil
}

// mysqlHosts lists the host:port pairs of a mysql:// URL's authority (comma-separated, each
// with port 3306 when it names none).
func mysqlHosts(authority string) ([]string, error) {
	var hosts []string
	for _, h := range strings.Split(authority, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, errors.New("empty host in the host list")
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "3306")
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}
