package sqlstore

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/domain"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

func TestMySQLHostList(t *testing.T) {
	tests := []struct {
		url   string
		first string
		hosts []string
		bad   bool
	}{
		{url: "mysql://u:p@db1/auth", first: "mysql://u:p@db1/auth", hosts: []string{"db1:3306"}},
		{url: "mysql://u:p@db1:3307,db2,[::1]:3308/auth?tls=true", first: "mysql://u:p@db1:3307/auth?tls=true",
			hosts: []string{"db1:3307", "db2:3306", "[::1]:3308"}},
		{url: "mysql://db1,db2", first: "mysql://db1", hosts: []string{"db1:3306", "db2:3306"}},
		{url: "mysql://u@db1,,db2/auth", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			first, hosts, err := splitMySQLHosts(tt.url)
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v", err)
			}
			if !tt.bad && (first != tt.first || !slices.Equal(hosts, tt.hosts)) {
				t.Fatalf("splitMySQLHosts = %q, %q", first, hosts)
			}
		})
	}
	cfg, hosts, err := mysqlConfigHosts("mysql://u:s3cret@db1:3307,db2:3308/auth?tls=true", 0)
	if err != nil || cfg.Addr != "db1:3307" || cfg.Passwd != "s3cret" || cfg.DBName != "auth" || len(hosts) != 2 {
		t.Fatalf("mysqlConfigHosts = %+v, %v, %v", cfg, hosts, err)
	}
	f, err := newFailoverConnector(cfg, hosts)
	if err != nil || len(f.connectors) != 2 {
		t.Fatalf("connector: %v", err)
	}
}

// A server list whose first server refuses connections fails over to the next; one where none
// answers is domain.ErrUnavailable, naming each server.
func TestMySQLFailoverToNextServer(t *testing.T) {
	live, err := url.Parse(testenv.MySQLURL(t))
	if err != nil {
		t.Fatal(err)
	}
	dead := testenv.FreeAddr(t)
	ctx := context.Background()
	u := *live
	u.Host = dead + "," + live.Host
	db, err := Open(ctx, strings.Replace(u.String(), url.PathEscape(u.Host), u.Host, 1), Options{})
	if err != nil {
		t.Fatalf("open with a dead first server: %v", err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u.Host = dead + "," + testenv.FreeAddr(t)
	_, err = Open(ctx, strings.Replace(u.String(), url.PathEscape(u.Host), u.Host, 1), Options{})
	if !errors.Is(err, domain.ErrUnavailable) || !strings.Contains(err.Error(), dead) {
		t.Fatalf("no server answers: %v", err)
	}
}
