package cluster

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis-auth/portcullis/adapters/redisstore"
	"github.com/portcullis-auth/portcullis/ports"
	"github.com/portcullis-auth/portcullis/test/contract"
	"github.com/portcullis-auth/portcullis/test/testenv"
)

// The failover test's own Redis Cluster: three masters with two replicas each, on ports of its
// own (never the shared cluster of PORTCULLIS_TEST_REDIS_CLUSTER_ADDRS, which other tests use
// and which has no replicas). Two replicas per master, so that a shard whose master died still
// has a replica to acknowledge WAIT once the other is promoted. cluster-node-timeout is 3 s, so
// a failover takes seconds; cluster-require-full-coverage is off, so the other shards keep
// serving meanwhile (what an operator who runs Redis Cluster for sessions should set too).
var (
	redisClusterPorts = []int{7301, 7302, 7303, 7304, 7305, 7306, 7307, 7308, 7309}
	redisMasters      = 3
	redisNodeTimeout  = 3 * time.Second
)

// redisCluster is that cluster, started by test/testenv/redis-cluster.sh.
type redisCluster struct {
	dir string
}

// startRedisCluster starts the cluster (stopped at cleanup) and waits until it is whole.
// Without redis-server and redis-cli on PATH the test skips (fails when services are
// required); a port already taken fails the test.
func startRedisCluster(t *testing.T) *redisCluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv(testenv.RequireServicesVar) == "1" {
				t.Fatalf("%s is not on PATH and %s=1", bin, testenv.RequireServicesVar)
			}
			t.Skipf("%s is not on PATH", bin)
		}
	}
	for _, p := range redisClusterPorts {
		for _, port := range []int{p, p + 10000} { // the node and its cluster bus
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
				_ = c.Close()
				t.Fatalf("port %d is taken: the failover test needs 127.0.0.1:%d-%d and their cluster bus ports", port,
					redisClusterPorts[0], redisClusterPorts[len(redisClusterPorts)-1])
			}
		}
	}
	rc := &redisCluster{dir: t.TempDir()}
	t.Cleanup(func() {
		if out, err := rc.script("stop"); err != nil {
			t.Errorf("redis-cluster.sh stop: %v\n%s", err, out)
		}
	})
	if out, err := rc.script("start"); err != nil {
		t.Fatalf("redis-cluster.sh start: %v\n%s", err, out)
	}
	rc.waitWhole(t, 60*time.Second)
	return rc
}

// script runs test/testenv/redis-cluster.sh cmd on this cluster's ports and directory.
func (rc *redisCluster) script(cmd string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", filepath.Join("..", "testenv", "redis-cluster.sh"), cmd)
	c.Env = append(os.Environ(), "PORTS="+rc.ports(" "), "DIR="+rc.dir, "REPLICAS="+strconv.Itoa(len(redisClusterPorts)/redisMasters-1),
		"NODE_TIMEOUT="+strconv.Itoa(int(redisNodeTimeout.Milliseconds())), "FULL_COVERAGE=no")
	return c.CombinedOutput()
}

func (rc *redisCluster) ports(sep string) string {
	var s []string
	for _, p := range redisClusterPorts {
		s = append(s, strconv.Itoa(p))
	}
	return strings.Join(s, sep)
}

// url is the session store URL: every node a seed.
func (rc *redisCluster) url() string {
	var s []string
	for _, p := range redisClusterPorts {
		s = append(s, fmt.Sprintf("127.0.0.1:%d", p))
	}
	return "redis+cluster://" + strings.Join(s, ",")
}

// redisNode is one line of CLUSTER NODES.
type redisNode struct {
	id, masterID string
	port         int
	master, fail bool
	connected    bool
	slots        string
}

// nodes is CLUSTER NODES as seen by the node on port.
func (rc *redisCluster) nodes(ctx context.Context, port int) ([]redisNode, error) {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	out, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var nodes []redisNode
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue
		}
		hostPort, _, _ := strings.Cut(f[1], "@")
		_, p, _ := net.SplitHostPort(hostPort)
		port, _ := strconv.Atoi(p)
		flags := "," + f[2] + ","
		n := redisNode{id: f[0], port: port, masterID: f[3], master: strings.Contains(flags, ",master,"),
			fail: strings.Contains(flags, ",fail,") || strings.Contains(flags, ",fail?,"), connected: f[7] == "connected"}
		if len(f) > 8 {
			n.slots = strings.Join(f[8:], " ")
		}
		nodes = append(nodes, n)
	}
	return nodes, sc.Err()
}

// whole reports why the cluster is not whole, as seen by every node: all nine known,
// connected and not failed, three masters holding slots, each with its two replicas, every
// replica's link to its master up, and all 16384 slots ok. "" when whole.
func (rc *redisCluster) whole(ctx context.Context) string {
	for _, p := range redisClusterPorts {
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p), MaxRetries: -1, DialTimeout: time.Second})
		info, err := c.ClusterInfo(ctx).Result()
		repl, rerr := c.Info(ctx, "replication").Result()
		_ = c.Close()
		switch {
		case err != nil || rerr != nil:
			return fmt.Sprintf("node %d: %v %v", p, err, rerr)
		case !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") ||
			!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(redisClusterPorts))):
			return fmt.Sprintf("node %d: %s", p, strings.Join(strings.Fields(info)[:7], " "))
		case strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up"):
			return fmt.Sprintf("node %d: replica not in sync", p)
		}
		nodes, err := rc.nodes(ctx, p)
		if err != nil {
			return fmt.Sprintf("node %d: %v", p, err)
		}
		masters, replicas := 0, map[string]int{}
		for _, n := range nodes {
			if n.fail || !n.connected {
				return fmt.Sprintf("node %d sees %d failed or disconnected", p, n.port)
			}
			if n.master && n.slots != "" {
				masters++
			} else if !n.master {
				replicas[n.masterID]++
			}
		}
		if masters != redisMasters {
			return fmt.Sprintf("node %d sees %d masters with slots", p, masters)
		}
		for _, n := range nodes {
			if n.master && replicas[n.id] != len(redisClusterPorts)/redisMasters-1 {
				return fmt.Sprintf("node %d sees master %d with %d replicas", p, n.port, replicas[n.id])
			}
		}
	}
	return ""
}

// waitWhole waits until whole reports nothing, or fails the test after limit.
func (rc *redisCluster) waitWhole(t *testing.T, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		why := rc.whole(ctx)
		cancel()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Redis Cluster is not whole after %s: %s", limit, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// aMaster returns the first master holding slots: its port, id and slots.
func (rc *redisCluster) aMaster(t *testing.T) redisNode {
	t.Helper()
	nodes, err := rc.nodes(context.Background(), redisClusterPorts[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.master && n.slots != "" {
			return n
		}
	}
	t.Fatal("no master with slots")
	return redisNode{}
}

// kill sends SIGKILL to the node on port, as a crash would, and waits until it is gone.
func (rc *redisCluster) kill(t *testing.T, port int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rc.dir, fmt.Sprintf("redis-%d.pid", port)))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill node %d (pid %d): %v", port, pid, err)
	}
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// promoted reports the port of the node that every survivor sees serving the slots of old (a
// master killed), once one does: a replica of old, promoted.
func (rc *redisCluster) promoted(ctx context.Context, old redisNode) (int, bool) {
	port := 0
	for _, p := range redisClusterPorts {
		if p == old.port {
			continue
		}
		nodes, err := rc.nodes(ctx, p)
		if err != nil {
			return 0, false
		}
		found := 0
		for _, n := range nodes {
			if n.id != old.id && n.master && !n.fail && n.slots == old.slots {
				found, port = found+1, n.port
			}
		}
		if found != 1 {
			return 0, false
		}
	}
	return port, true
}

// checkRedisMasterKill kills one Redis master with SIGKILL while writers log in, refresh, read
// /me and log out across the three instances (sessions on the cluster, every session write
// waiting for a replica: PORTCULLIS_REDIS_WAIT_REPLICAS=1). Requests in flight on the dead
// master fail fast with 503; once a replica is promoted, later ones succeed; every session,
// rotation and logout the writers saw acknowledged is there afterwards (a live session still
// refreshes with its last token, a logged-out one stays refused); the node, restarted, rejoins
// as a replica and the cluster is whole again (nine nodes, all slots ok).
func checkRedisMasterKill(t *testing.T, d *deployment, rc *redisCluster) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// session is a login the service acknowledged, with its last acknowledged tokens. unknown: a
	// refresh or logout was answered 503, so whether it happened is not known (it may have been
	// applied without reaching a replica); such a session is not checked.
	type session struct {
		email, access, refresh string
		revoked, unknown       bool
	}
	type phase int
	const (
		before     phase = iota
		down             // the master is dead, no replica promoted yet
		failedOver       // a replica serves its slots; the dead node is not back
		whole            // the node is back as a replica and the cluster is whole
	)
	var (
		mu       sync.Mutex
		sessions []*session
		now      = before
		answers  = map[phase]map[int]int{before: {}, down: {}, failedOver: {}, whole: {}}
		slowest  time.Duration // the slowest failed answer after the kill
		lastFail time.Time     // when the last failed answer after the kill came
	)
	note := func(code int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil { // cut short by the end of the test
			return
		}
		answers[now][code]++
		if now != before && (code >= 500 || code == 0) {
			slowest = max(slowest, took)
			lastFail = time.Now()
		}
	}
	timed := func(f func() int) int {
		start := time.Now()
		code := f()
		note(code, time.Since(start))
		return code
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				i := w + n
				email, pw := fmt.Sprintf("rkill-%d-%d-%d@cluster.example", w, n, rand.Uint32()), "redis kill password"
				if code, _ := d.register(ctx, i, email, pw); code != http.StatusCreated {
					pause(ctx)
					continue
				}
				var tk tokens
				if timed(func() int { c, t := d.login(ctx, i+1, email, pw); tk = t; return c }) != http.StatusOK {
					continue
				}
				s := &session{email: email, access: tk.access, refresh: tk.refresh}
				mu.Lock()
				sessions = append(sessions, s)
				mu.Unlock()
				timed(func() int { c, _ := call(ctx, http.MethodGet, d.url(i+2, "/api/users/me"), tk.access, nil); return c })
				code := timed(func() int {
					c, out := call(ctx, http.MethodPost, d.url(i, "/api/auth/refresh"), "", map[string]string{"refresh_token": tk.refresh})
					if c == http.StatusOK {
						tk = tokensOf(out)
					}
					return c
				})
				mu.Lock()
				if code == http.StatusOK {
					s.access, s.refresh = tk.access, tk.refresh
				} else {
					s.unknown = true
				}
				mu.Unlock()
				if code != http.StatusOK || n%2 == 1 {
					continue
				}
				code = timed(func() int {
					c, _ := call(ctx, http.MethodPost, d.url(i+1, "/api/auth/logout"), tk.access, map[string]string{"refresh_token": tk.refresh})
					return c
				})
				mu.Lock()
				if code == http.StatusNoContent {
					s.revoked = true
				} else {
					s.unknown = true
				}
				mu.Unlock()
			}
		})
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()
	setPhase := func(p phase) {
		mu.Lock()
		now = p
		mu.Unlock()
	}

	time.Sleep(2 * time.Second)
	victim := rc.aMaster(t)
	setPhase(down) // from here a failure counts as the kill's: it may be in flight on the victim
	killedAt := time.Now()
	rc.kill(t, victim.port)
	var newMaster int
	for deadline := time.Now().Add(60 * time.Second); ; {
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, ok := rc.promoted(pctx, victim)
		pcancel()
		if ok {
			newMaster = p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica of master %d was promoted within 60s", victim.port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	failover := time.Since(killedAt)
	promotedAt := time.Now()
	setPhase(failedOver)
	time.Sleep(4 * time.Second) // serve through the promoted replica for a while

	start := time.Now()
	if out, err := rc.script("start"); err != nil { // restarts the killed node, which rejoins
		t.Fatalf("restart node %d: %v\n%s", victim.port, err, out)
	}
	rc.waitWhole(t, 60*time.Second)
	rejoin := time.Since(start)
	setPhase(whole)
	time.Sleep(3 * time.Second)
	stop()

	mu.Lock()
	defer mu.Unlock()
	count := func(p phase, ok func(int) bool) (n int) {
		for code, k := range answers[p] {
			if ok(code) {
				n += k
			}
		}
		return n
	}
	is2xx := func(c int) bool { return c >= 200 && c < 300 }
	is503 := func(c int) bool { return c == http.StatusServiceUnavailable }
	t.Logf("Redis master %d killed: replica %d promoted after %s (cluster-node-timeout %s); the node rejoined as a replica and the cluster was whole %s after its restart",
		victim.port, newMaster, failover.Round(time.Millisecond), redisNodeTimeout, rejoin.Round(time.Millisecond))
	t.Logf("answers before the kill %v; while down %v; after the promotion %v; once whole %v; slowest failure %s",
		answers[before], answers[down], answers[failedOver], answers[whole], slowest.Round(time.Millisecond))
	if !lastFail.IsZero() {
		t.Logf("the last failure came %s after the kill (%s after the promotion)",
			lastFail.Sub(killedAt).Round(time.Millisecond), lastFail.Sub(promotedAt).Round(time.Millisecond))
	}
	for _, p := range []phase{down, failedOver, whole} {
		for code, n := range answers[p] {
			if !is2xx(code) && !is503(code) {
				t.Errorf("%d answers %d after the kill: a lost Redis master is 503, never another failure", n, code)
			}
		}
	}
	if count(failedOver, is2xx) == 0 || count(whole, is2xx) == 0 {
		t.Errorf("no request succeeded after the promotion (%v) or once whole (%v)", answers[failedOver], answers[whole])
	}
	if n := count(whole, is503); n != 0 {
		t.Errorf("%d answers 503 once the cluster was whole again", n)
	}

	// Every acknowledged session, rotation and logout is there, through every instance.
	lost, checked := 0, 0
	bg := context.Background()
	for i, s := range sessions {
		if s.unknown {
			continue
		}
		checked++
		if s.revoked {
			me, _ := call(bg, http.MethodGet, d.url(i, "/api/users/me"), s.access, nil)
			ref, _ := call(bg, http.MethodPost, d.url(i+1, "/api/auth/refresh"), "", map[string]string{"refresh_token": s.refresh})
			if me != http.StatusUnauthorized || ref != http.StatusUnauthorized {
				lost++
				t.Errorf("%s: logged out, yet /me %d and refresh %d", s.email, me, ref)
			}
			continue
		}
		if code, _ := call(bg, http.MethodPost, d.url(i, "/api/auth/refresh"), "", map[string]string{"refresh_token": s.refresh}); code != http.StatusOK {
			lost++
			t.Errorf("%s: acknowledged session, refresh with its last token %d", s.email, code)
		}
	}
	t.Logf("acknowledged session writes around the Redis kill: %d sessions checked (%d with an unknown outcome skipped), %d lost",
		checked, len(sessions)-checked, lost)
}

// TestSessionStoreWaitingForReplicas runs the session store contract on the Redis Cluster with
// replicas, every write waiting for one replica (redisstore.WaitForReplicas, what
// PORTCULLIS_REDIS_WAIT_REPLICAS=1 sets): the store behaves exactly as without, writes routed to
// each key's master with WAIT on the same connection.
func TestSessionStoreWaitingForReplicas(t *testing.T) {
	rc := startRedisCluster(t)
	c, err := redisstore.Open(t.Context(), rc.url(), redisstore.Options{PoolSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	n := 0
	contract.SessionStore(t, func(t *testing.T) ports.SessionStore {
		n++
		st, err := redisstore.NewSessionsWith(c, fmt.Sprintf("contract-%d:", n), redisstore.WaitForReplicas(1, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
