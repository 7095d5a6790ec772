package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// account is a registration the service acknowledged, with the password last acknowledged.
type account struct {
	email, password string
}

// mixedLoad is a steady mix of register, login, /me, refresh and logout across every instance,
// recording what was acknowledged and counting stale acceptances: a token accepted by another
// instance after its logout was acknowledged.
type mixedLoad struct {
	d *deployment

	mu       sync.Mutex
	accounts []account

	requests, failures5xx, transport, stale atomic.Int64
	byStatus                                sync.Map // int -> *atomic.Int64
}

func (l *mixedLoad) count(code int) {
	l.requests.Add(1)
	switch {
	case code == 0:
		l.transport.Add(1)
	case code >= 500:
		l.failures5xx.Add(1)
	}
	v, _ := l.byStatus.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (l *mixedLoad) statuses() string {
	var parts []string
	l.byStatus.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%d:%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	return strings.Join(parts, " ")
}

// run drives workers until ctx ends. Each iteration registers an account through one instance,
// logs in through another, reads /me and refreshes through the others, logs out through one and
// then presents the logged-out access token to a different one (which must refuse it).
func (l *mixedLoad) run(ctx context.Context, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				l.iteration(ctx, w, n)
			}
		})
	}
	return &wg
}

func (l *mixedLoad) iteration(ctx context.Context, w, n int) {
	d := l.d
	i := rand.IntN(3)
	a := account{email: fmt.Sprintf("load-%d-%d-%d@cluster.example", w, n, rand.Uint32()), password: "load password " + fmt.Sprint(w, n)}
	code, _ := d.register(ctx, i, a.email, a.password)
	l.count(code)
	if code != http.StatusCreated {
		pause(ctx)
		return
	}
	l.mu.Lock()
	l.accounts = append(l.accounts, a)
	l.mu.Unlock()
	code, tk := d.login(ctx, i+1, a.email, a.password)
	l.count(code)
	if code != http.StatusOK {
		pause(ctx)
		return
	}
	for k := range 3 {
		code, _ = call(ctx, http.MethodGet, d.url(i+k, "/api/users/me"), tk.access, nil)
		l.count(code)
	}
	code, out := call(ctx, http.MethodPost, d.url(i+2, "/api/auth/refresh"), "", map[string]string{"refresh_token": tk.refresh})
	l.count(code)
	if code == http.StatusOK {
		tk = tokensOf(out)
	}
	code, _ = call(ctx, http.MethodPost, d.url(i, "/api/auth/logout"), tk.access, map[string]string{"refresh_token": tk.refresh})
	l.count(code)
	if code != http.StatusNoContent {
		return
	}
	for k := 1; k < 3; k++ {
		code, _ = call(ctx, http.MethodGet, d.url(i+k, "/api/users/me"), tk.access, nil)
		l.count(code)
		if code == http.StatusOK {
			l.stale.Add(1)
		}
	}
}

func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

// TestThreeInstances runs three instances, one per Galera node, with sessions on Galera (sql)
// and on a Redis Cluster with replicas, under a steady mixed load across all three, and checks
// that revocations are seen at once everywhere, that concurrent refreshes have one successor,
// that a key rotation costs no 401, that a Galera node killed mid-load (sql run) or a Redis
// master killed mid-load (redis run) loses no acknowledged write while the instances fail over,
// and that the node rejoins.
func TestThreeInstances(t *testing.T) {
	var rc *redisCluster
	runs := []struct {
		name      string
		store     func(t *testing.T) string
		kill      bool // a Galera node
		redisKill bool // a Redis master
	}{
		{name: "sessions=galera", store: func(*testing.T) string { return "sql" }, kill: true},
		// The Redis Cluster of this test's own (redis_test.go), every session write waiting for
		// one replica.
		{name: "sessions=redis-cluster", store: func(t *testing.T) string {
			rc = startRedisCluster(t)
			return rc.url() + "\nPORTCULLIS_REDIS_WAIT_REPLICAS=1"
		}, redisKill: true},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			d := deploy(t, run.store(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			load := &mixedLoad{d: d}
			loadDone := load.run(ctx, 4)
			t.Cleanup(func() { cancel(); loadDone.Wait() })

			t.Run("revocations are seen at once on the other instances", func(t *testing.T) { checkRevocations(t, d) })
			t.Run("concurrent refreshes have one successor", func(t *testing.T) { checkConcurrentRefresh(t, d) })
			t.Run("key rotation causes no 401", func(t *testing.T) { checkKeyRotation(t, d) })
			if run.kill {
				t.Run("a Galera node killed mid-load", func(t *testing.T) { checkNodeKill(t, d, load) })
			}
			if run.redisKill {
				t.Run("a Redis master killed mid-load", func(t *testing.T) { checkRedisMasterKill(t, d, rc) })
			}
			cancel()
			loadDone.Wait()
			t.Logf("mixed load: %d requests (%s), stale acceptances after logout: %d",
				load.requests.Load(), load.statuses(), load.stale.Load())
			if load.stale.Load() != 0 {
				t.Errorf("%d logged-out access tokens were accepted by another instance", load.stale.Load())
			}
			checkAcknowledged(t, d, load)
		})
	}
}

// checkRevocations: a logout, a password change, a disable and a role change made through one
// instance are seen by the very next request on each other instance.
func checkRevocations(t *testing.T, d *deployment) {
	ctx := context.Background()
	admin := d.mustLogin(ctx, 0, "admin@cluster.example", d.adminPass)
	stale := 0
	// expect presents token to every instance but the acting one and counts acceptances.
	expect := func(acting int, token, path string, refused int) {
		for k := 1; k < 3; k++ {
			code, _ := call(ctx, http.MethodGet, d.url(acting+k, path), token, nil)
			switch code {
			case refused:
			case http.StatusOK:
				stale++
			default:
				t.Errorf("%s on instance %d: %d", path, (acting+k)%3+1, code)
			}
		}
	}
	for round := range 3 {
		acting := round % 3
		// Logout.
		email, pw := uniqueEmail("logout"), "logout password 1"
		d.mustRegister(ctx, round, email, pw)
		tk := d.mustLogin(ctx, round+1, email, pw)
		if code, _ := call(ctx, http.MethodPost, d.url(acting, "/api/auth/logout"), tk.access, map[string]string{"refresh_token": tk.refresh}); code != http.StatusNoContent {
			t.Fatalf("logout: %d", code)
		}
		expect(acting, tk.access, "/api/users/me", http.StatusUnauthorized)

		// Password change through one session ends the others.
		email, pw = uniqueEmail("password"), "password change 1"
		d.mustRegister(ctx, round, email, pw)
		other := d.mustLogin(ctx, round+1, email, pw)
		own := d.mustLogin(ctx, acting, email, pw)
		code, _ := call(ctx, http.MethodPut, d.url(acting, "/api/users/me/password"), own.access,
			map[string]string{"current_password": pw, "new_password": "password change 2"})
		if code != http.StatusNoContent && code != http.StatusOK {
			t.Fatalf("change password: %d", code)
		}
		expect(acting, other.access, "/api/users/me", http.StatusUnauthorized)
		if code, _ := d.login(ctx, acting+1, email, pw); code != http.StatusUnauthorized {
			t.Errorf("old password after the change, on another instance: %d", code)
		}

		// Disable.
		email, pw = uniqueEmail("disable"), "disable password 1"
		id := d.mustRegister(ctx, round, email, pw)
		tk = d.mustLogin(ctx, round+1, email, pw)
		if code, _ := call(ctx, http.MethodPatch, d.url(acting, "/api/users/"+id), admin.access, map[string]any{"disabled": true}); code != http.StatusOK {
			t.Fatalf("disable: %d", code)
		}
		expect(acting, tk.access, "/api/users/me", http.StatusUnauthorized)

		// Role change: a moderator demoted to user loses the moderator route everywhere at once.
		email, pw = uniqueEmail("role"), "role password 1"
		id = d.mustRegister(ctx, round, email, pw)
		if code, _ := call(ctx, http.MethodPatch, d.url(acting+1, "/api/users/"+id), admin.access, map[string]any{"roles": []string{"user", "moderator"}}); code != http.StatusOK {
			t.Fatalf("promote: %d", code)
		}
		tk = d.mustLogin(ctx, round+2, email, pw)
		if code, _ := call(ctx, http.MethodGet, d.url(round+2, "/api/test/mod"), tk.access, nil); code != http.StatusOK {
			t.Fatalf("moderator route before the demotion: %d", code)
		}
		if code, _ := call(ctx, http.MethodPatch, d.url(acting, "/api/users/"+id), admin.access, map[string]any{"roles": []string{"user"}}); code != http.StatusOK {
			t.Fatalf("demote: %d", code)
		}
		expect(acting, tk.access, "/api/test/mod", http.StatusForbidden)
	}
	t.Logf("stale acceptances after logout, password change, disable and role change (3 rounds, 2 other instances each): %d", stale)
	if stale != 0 {
		t.Errorf("%d stale acceptances", stale)
	}
}

// checkConcurrentRefresh: 50 refreshes of one token at once, spread over the three instances,
// all answer with the same successor.
func checkConcurrentRefresh(t *testing.T, d *deployment) {
	ctx := context.Background()
	for round := range 2 {
		email, pw := uniqueEmail("refresh"), "refresh password 1"
		d.mustRegister(ctx, round, email, pw)
		tk := d.mustLogin(ctx, round, email, pw)
		var (
			wg         sync.WaitGroup
			mu         sync.Mutex
			successors = map[string]int{}
			codes      = map[int]int{}
			start      = make(chan struct{})
		)
		for i := range 50 {
			wg.Go(func() {
				<-start
				code, out := call(ctx, http.MethodPost, d.url(i, "/api/auth/refresh"), "", map[string]string{"refresh_token": tk.refresh})
				mu.Lock()
				defer mu.Unlock()
				codes[code]++
				if code == http.StatusOK {
					successors[tokensOf(out).refresh]++
				}
			})
		}
		close(start)
		wg.Wait()
		if codes[http.StatusOK] != 50 || len(successors) != 1 {
			t.Fatalf("round %d: answers %v, %d distinct successors", round, codes, len(successors))
		}
		// The successor works on every instance; the presented token is now retired.
		for next := range successors {
			code, out := call(ctx, http.MethodPost, d.url(round+1, "/api/auth/refresh"), "", map[string]string{"refresh_token": next})
			if code != http.StatusOK || tokensOf(out).refresh == "" {
				t.Fatalf("refresh with the successor: %d", code)
			}
		}
	}
}

// checkKeyRotation: `portcullis keys rotate` while the instances serve; tokens minted by each
// instance through the switch to the new key verify on every other one.
func checkKeyRotation(t *testing.T, d *deployment) {
	ctx := context.Background()
	email, pw := uniqueEmail("keys"), "key rotation password"
	d.mustRegister(ctx, 0, email, pw)
	cmd := exec.Command(binary, "keys", "rotate")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"PORTCULLIS_DATA_DIR=" + t.TempDir(), "PORTCULLIS_DATABASE_URL=" + multiHost(d.urls, 1)}, d.env...)
	cmd.Dir = filepath.Dir(binary)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	// The new key signs after twice the reload interval (1s here); cover that switch and more.
	deadline := time.Now().Add(5 * time.Second)
	checked, refused := 0, 0
	for i := 0; time.Now().Before(deadline); i++ {
		tk := d.mustLogin(ctx, i, email, pw)
		for k := 1; k < 3; k++ {
			code, _ := call(ctx, http.MethodGet, d.url(i+k, "/api/users/me"), tk.access, nil)
			checked++
			if code == http.StatusUnauthorized {
				refused++
			} else if code != http.StatusOK {
				t.Errorf("/me on instance %d: %d", (i+k)%3+1, code)
			}
		}
	}
	t.Logf("key rotation: %d cross-instance verifications, %d refused", checked, refused)
	if refused != 0 {
		t.Errorf("%d tokens refused by another instance across the key rotation", refused)
	}
}

// checkNodeKill kills Galera node 2 with SIGKILL while a writer registers, logs in and changes
// passwords through instance 2 (which prefers node 2) and the mixed load runs. Requests in
// flight on the dead node fail fast, later ones succeed through the other nodes; every write the
// writer saw acknowledged is there afterwards; the node rejoins and the cluster is three again.
func checkNodeKill(t *testing.T, d *deployment, load *mixedLoad) {
	dir := testenv.GaleraDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type acked struct {
		account
		refresh string
		// maybe is a password change that was sent but not acknowledged (cut short at the end):
		// it may or may not have happened, so either password is right.
		maybe string
	}
	var (
		mu        sync.Mutex
		done      []acked
		killedAt  time.Time
		firstOK   time.Time
		afterKill = map[int]int{}
		slowest   time.Duration
	)
	note := func(code int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if killedAt.IsZero() || ctx.Err() != nil { // not yet, or cut short by the end of the test
			return
		}
		afterKill[code]++
		if code >= 200 && code < 300 && firstOK.IsZero() {
			firstOK = time.Now()
		}
		if code >= 500 || code == 0 {
			slowest = max(slowest, took)
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
				a := account{email: fmt.Sprintf("kill-%d-%d-%d@cluster.example", w, n, rand.Uint32()), password: "before the kill"}
				var tk tokens
				if timed(func() int { c, _ := d.register(ctx, 1, a.email, a.password); return c }) != http.StatusCreated {
					pause(ctx)
					continue
				}
				mu.Lock()
				done = append(done, acked{account: a})
				k := len(done) - 1
				mu.Unlock()
				if timed(func() int { c, t := d.login(ctx, 1, a.email, a.password); tk = t; return c }) != http.StatusOK {
					continue
				}
				mu.Lock()
				done[k].refresh = tk.refresh
				mu.Unlock()
				next := "after the kill " + fmt.Sprint(n)
				code := timed(func() int {
					c, _ := call(ctx, http.MethodPut, d.url(1, "/api/users/me/password"), tk.access,
						map[string]string{"current_password": a.password, "new_password": next})
					return c
				})
				mu.Lock()
				if code == http.StatusNoContent || code == http.StatusOK {
					done[k].password = next
				} else {
					done[k].maybe = next
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)
	galera(t, "kill", "2", dir)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	rejoined := false
	t.Cleanup(func() {
		if !rejoined {
			galera(t, "rejoin", "2", dir) // leave the cluster whole for the next test
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		ok := !firstOK.IsZero() && time.Since(firstOK) > 8*time.Second
		mu.Unlock()
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if firstOK.IsZero() {
		t.Fatalf("instance 2 never served again after its node died: %v", afterKill)
	}
	t.Logf("node 2 killed: instance 2 served again after %s; answers after the kill %v; slowest failure %s",
		firstOK.Sub(killedAt).Round(time.Millisecond), afterKill, slowest.Round(time.Millisecond))
	for code, n := range afterKill {
		if code != http.StatusServiceUnavailable && (code < 200 || code >= 300) {
			t.Errorf("%d answers %d after the kill: a lost node is 503, never another failure", n, code)
		}
	}

	start := time.Now()
	galera(t, "rejoin", "2", dir)
	rejoined = true
	t.Logf("node 2 rejoined and synced in %s", time.Since(start).Round(time.Millisecond))
	dbs := openNodes(t, d.urls[1:2])
	var name string
	var size int
	if err := dbs[0].Bun().QueryRowContext(context.Background(), "SHOW STATUS LIKE 'wsrep_cluster_size'").Scan(&name, &size); err != nil || size != 3 {
		t.Fatalf("cluster size after the rejoin: %d, %v", size, err)
	}

	// Every acknowledged write is there, read through every node.
	lost := 0
	for i, a := range done {
		code, _ := d.login(context.Background(), i, a.email, a.password)
		if code == http.StatusUnauthorized && a.maybe != "" {
			code, _ = d.login(context.Background(), i, a.email, a.maybe)
		}
		if code != http.StatusOK {
			lost++
			t.Errorf("%s with its last acknowledged password: login %d", a.email, code)
		}
		if a.refresh != "" {
			if code, _ := call(context.Background(), http.MethodPost, d.url(i+1, "/api/auth/refresh"), "", map[string]string{"refresh_token": a.refresh}); code != http.StatusOK {
				lost++
				t.Errorf("%s: acknowledged session refresh %d", a.email, code)
			}
		}
	}
	t.Logf("acknowledged writes around the kill: %d accounts checked, %d lost", len(done), lost)
}

// galera runs test/cluster/galera.sh with args, failing the test on error.
func galera(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("bash", append([]string{"galera.sh"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("galera.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// checkAcknowledged logs in (through a random instance) with a sample of the accounts the mixed
// load saw registered: none is lost.
func checkAcknowledged(t *testing.T, d *deployment, load *mixedLoad) {
	load.mu.Lock()
	accounts := append([]account(nil), load.accounts...)
	load.mu.Unlock()
	rand.Shuffle(len(accounts), func(i, j int) { accounts[i], accounts[j] = accounts[j], accounts[i] })
	accounts = accounts[:min(len(accounts), 100)]
	lost := 0
	for i, a := range accounts {
		if code, _ := d.login(context.Background(), i, a.email, a.password); code != http.StatusOK {
			lost++
			t.Errorf("acknowledged registration %s: login %d", a.email, code)
		}
	}
	t.Logf("acknowledged registrations of the mixed load: %d checked, %d lost", len(accounts), lost)
}
