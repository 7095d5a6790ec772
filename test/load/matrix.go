package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sys/unix"
)

// Matrix mode (-matrix) measures every route on every session store as a ratio to floors
// measured in the same run, so that figures from a noisy or small machine can be compared:
//
//	go run ./test/load -matrix -runs 3 -duration 10s -redis redis://127.0.0.1:6379/0
//
// For each run and each store (memory, sqlite = sessions in the SQLite database, redis =
// sessions in Redis, users in SQLite) it starts a fresh portcullis binary on a free loopback
// port with its own data directory, stops it and starts it again (timing start to the first
// /healthz 200 on an existing data directory), then measures each route, each right after its
// floor:
//
//	me       GET /api/users/me, strict sessions, -matrix-conns connections; floor: a bare Fiber
//	         JSON handler (GET /floor, a child process of this generator) at as many connections
//	refresh  POST /api/auth/refresh, every connection rotating its own session; floor: bare Fiber
//	login    POST /api/auth/login at -login-conns connections; floor: an argon2id hashing loop
//	         (Portcullis's default parameters) on every core, in hashes per second
//	login32  the same at -matrix-conns connections: shows the bounded hash queue (503s with
//	         Retry-After) rather than timeouts
//
// and the server's resident set (largest VmRSS sampled every 50 ms during the timed window, with
// that sample's split into file-backed pages, RssFile, and anonymous memory, RssAnon; for
// me and refresh the window opens settleAfterSetup after the setup's logins, so that it shows
// the route's memory and not the argon2id working sets of the logins, which the server gives
// back once hashing has been idle for 250 ms), and the CPU time per request of the server, of the
// floor and of the generator. It prints the median of each figure over -runs runs, and with -json
// the whole report.
type matrixOptions struct {
	enabled    bool
	runs       int
	stores     string
	routes     string
	binary     string
	redisURL   string
	pgURL      string
	env        string
	floorAddr  string
	conns      int
	loginConns int
	cpuProfile string
}

// settleAfterSetup is the pause between a cheap route's setup (registrations, one login per
// connection) and its timed window.
const settleAfterSetup = time.Second

var (
	// matrixStores are the stores -stores may name; the default leaves out postgres, which needs
	// -postgres.
	matrixStores = []string{"memory", "sqlite", "redis", "postgres"}
	matrixRoutes = []string{"me", "refresh", "login", "login32"}
)

// cell is one route on one store in one run.
type cell struct {
	Store     string  `json:"store"`
	Route     string  `json:"route"`
	Conns     int     `json:"connections"`
	RPS       float64 `json:"rps"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	RSSMB     float64 `json:"rss_mb"`
	RSSFileMB float64 `json:"rss_file_mb"` // of RSSMB's sample: pages of files (the binary, libc)
	RSSAnonMB float64 `json:"rss_anon_mb"` // of RSSMB's sample: anonymous (heap, stacks, runtime)
	FloorKind string  `json:"floor"`
	FloorRPS  float64 `json:"floor_rps"`
	// FloorP99 is the bare Fiber floor's own p99 at the same connections: the part of the
	// route's p99 that the machine and the load generator set, whatever the server does.
	FloorP99 float64 `json:"floor_p99_ms,omitempty"`
	Ratio    float64 `json:"ratio"`
	// CPU time per request in µs, user + system, over the timed window: the server's, the floor's
	// (the bare Fiber process's per floor request, or the argon2id loop's per hash), and the load
	// generator's, which shares the cores with the server.
	ServerCPU float64          `json:"server_cpu_us"`
	FloorCPU  float64          `json:"floor_cpu_us,omitempty"`
	GenCPU    float64          `json:"generator_cpu_us"`
	Requests  int64            `json:"requests"`
	Errors    int64            `json:"errors"`
	ByStatus  map[string]int64 `json:"errors_by_status,omitempty"`
}

type machine struct {
	CPU    string `json:"cpu"`
	NumCPU int    `json:"num_cpu"`
	OS     string `json:"os"`
	Go     string `json:"go"`
}

type matrixReport struct {
	Machine  machine            `json:"machine"`
	Command  string             `json:"command"`
	Runs     int                `json:"runs"`
	Duration float64            `json:"duration_s"`
	StartMS  map[string]float64 `json:"start_to_healthz_ms"` // per store, median over runs
	Cells    []cell             `json:"cells"`               // medians over runs
	PerRun   [][]cell           `json:"per_run"`
	// CPUProfile is where -cpuprofile wrote the server's merged CPU profile: the runs profiled
	// the server while measuring it, so their figures are not for comparison.
	CPUProfile string `json:"cpu_profile,omitempty"`
}

func runMatrix(o options, m matrixOptions) error {
	stores, err := pickList("-stores", m.stores, matrixStores)
	if err != nil {
		return err
	}
	routes, err := pickList("-routes", m.routes, matrixRoutes)
	if err != nil {
		return err
	}
	switch {
	case m.runs < 1 || m.runs > 9:
		return errors.New("-runs must be in [1, 9]")
	case o.duration <= 0 || o.duration > time.Minute:
		return errors.New("-duration must be in (0, 1m] in matrix mode")
	case m.conns < 1 || m.conns > 256 || m.loginConns < 1 || m.loginConns > 256:
		return errors.New("-matrix-conns and -login-conns must be in [1, 256]")
	}
	if slices.Contains(stores, "redis") {
		if m.redisURL == "" {
			return errors.New("the redis store needs -redis (or PORTCULLIS_TEST_REDIS_URL)")
		}
		if err := checkRedisURL(m.redisURL); err != nil {
			return err
		}
	}
	if slices.Contains(stores, "postgres") {
		if m.pgURL == "" {
			return errors.New("the postgres store needs -postgres (or PORTCULLIS_TEST_POSTGRES_URL)")
		}
		if err := checkPostgresURL(m.pgURL); err != nil {
			return err
		}
	}
	extra, err := parseEnv(m.env)
	if err != nil {
		return err
	}
	var profiles *cpuProfiles
	if m.cpuProfile != "" {
		if !slices.Contains(routes, "me") && !slices.Contains(routes, "refresh") {
			return errors.New("-cpuprofile profiles the me and refresh routes: name one in -routes")
		}
		profiles = &cpuProfiles{}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "portcullis-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	binary := m.binary
	if binary == "" {
		binary = filepath.Join(tmp, "portcullis")
		fmt.Fprintln(os.Stderr, "building portcullis...")
		build := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/portcullis-auth/portcullis/cmd/portcullis")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build portcullis: %w\n%s", err, out)
		}
	}
	if err := dropPageCache(binary); err != nil {
		return fmt.Errorf("drop the page cache of %s: %w", binary, err)
	}

	floor, err := startFloor(ctx, tmp)
	if err != nil {
		return err
	}
	defer floor.stop()

	rep := matrixReport{Machine: describeMachine(), Command: strings.Join(os.Args, " "), Runs: m.runs,
		Duration: o.duration.Seconds(), StartMS: map[string]float64{}}
	starts := map[string][]float64{}
	for run := range m.runs {
		var cells []cell
		for _, store := range stores {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s\n", run+1, m.runs, store)
			got, startMS, err := measureStore(ctx, o, m, binary, tmp, store, routes, extra, floor, profiles)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", run+1, store, err)
			}
			starts[store] = append(starts[store], startMS)
			cells = append(cells, got...)
		}
		rep.PerRun = append(rep.PerRun, cells)
	}
	for store, v := range starts {
		rep.StartMS[store] = median(v)
	}
	rep.Cells = medians(rep.PerRun)
	if profiles != nil {
		windows, samples, err := profiles.write(m.cpuProfile)
		if err != nil {
			return err
		}
		rep.CPUProfile = m.cpuProfile
		fmt.Fprintf(os.Stderr, "wrote the server's CPU profile (%d windows, %d samples) to %s\n", windows, samples, m.cpuProfile)
	}
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(os.Stdout)
	return nil
}

// measureStore starts a server for store, measures routes on it and stops it. With profiles set,
// the server also serves its pprof endpoint, and the timed window of each request route is
// profiled.
func measureStore(ctx context.Context, o options, m matrixOptions, binary, tmp, store string, routes []string,
	extra []string, floor *process, profiles *cpuProfiles) ([]cell, float64, error) {
	dataDir, err := os.MkdirTemp(tmp, store)
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dataDir)
	// Throttling is off: every request comes from one loopback address, which the registration
	// and login limits would (rightly) slow down. -env can turn it back on. The log level is the
	// default (info), so every request writes its access-log line, as a deployed server does;
	// its output goes to a file beside the data directory.
	env := []string{"PORTCULLIS_DATA_DIR=" + dataDir, "PORTCULLIS_RATE_LIMITS=off"}
	prefix := ""
	switch store {
	case "memory":
		env = append(env, "PORTCULLIS_SESSION_STORE=memory")
	case "sqlite":
		env = append(env, "PORTCULLIS_SESSION_STORE=sql")
	case "redis":
		prefix = "load-" + randomHex(6) + ":"
		env = append(env, "PORTCULLIS_SESSION_STORE="+m.redisURL, "PORTCULLIS_REDIS_KEY_PREFIX="+prefix)
		defer deleteRedisPrefix(m.redisURL, prefix)
	case "postgres":
		dbURL, drop, err := createPostgresDatabase(ctx, m.pgURL)
		if err != nil {
			return nil, 0, err
		}
		defer drop()
		env = append(env, "PORTCULLIS_DATABASE_URL="+dbURL, "PORTCULLIS_SESSION_STORE=sql")
	}
	pprofBase := ""
	if profiles != nil {
		addr, err := freeAddr()
		if err != nil {
			return nil, 0, err
		}
		env = append(env, "PORTCULLIS_METRICS_ADDR="+addr, "PORTCULLIS_PPROF=true")
		pprofBase = "http://" + addr + "/debug/pprof/"
	}
	env = append(env, extra...)

	// The first start creates the database, the schema and the signing key; the second, timed,
	// is the everyday restart on an existing data directory.
	first, err := startServer(ctx, binary, env, dataDir)
	if err != nil {
		return nil, 0, err
	}
	first.stop()
	srv, err := startServer(ctx, binary, env, dataDir)
	if err != nil {
		return nil, 0, err
	}
	defer srv.stop()
	startMS := float64(srv.ready.Microseconds()) / 1000

	var cells []cell
	for _, route := range routes {
		c := cell{Store: store, Route: route, Conns: m.conns}
		spec := loadSpec{concurrency: m.conns, users: 8, duration: o.duration, maxRequests: o.maxRequests}
		switch route {
		case "me":
			spec.weights[scMe] = 1
			spec.settle = settleAfterSetup
		case "refresh":
			spec.weights[scRefresh] = 1
			spec.settle = settleAfterSetup
		case "login":
			spec.weights[scLogin] = 1
			spec.concurrency, spec.users, c.Conns = m.loginConns, m.loginConns, m.loginConns
		case "login32":
			spec.weights[scLogin] = 1
		}
		if route == "login" || route == "login32" {
			c.FloorKind = "argon2id loop"
			c.FloorRPS, c.FloorCPU = argonFloor(ctx, defaultArgon, o.duration)
		} else {
			c.FloorKind = "bare Fiber"
			var floorCPU cpuWindow
			fs, err := measure(ctx, floor.base, loadSpec{concurrency: m.conns, duration: o.duration,
				maxRequests: o.maxRequests, weights: [numScenarios]int{scFloor: 1},
				started: func() { floorCPU.start(floor.cmd.Process.Pid) }})
			if err != nil {
				return nil, 0, fmt.Errorf("floor: %w", err)
			}
			c.FloorRPS, c.FloorP99 = fs.Scenarios[0].RPS, fs.Scenarios[0].Latency.P99
			c.FloorCPU = floorCPU.perRequest(fs.Scenarios[0].Requests)
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		var (
			rss       rssSampler
			serverCPU cpuWindow
			profiled  = func() error { return nil }
		)
		spec.started = func() {
			rss.start(srv.cmd.Process.Pid)
			serverCPU.start(srv.cmd.Process.Pid)
			if profiles != nil && (route == "me" || route == "refresh") {
				profiled = profiles.take(ctx, pprofBase, o.duration)
			}
		}
		sum, err := measure(ctx, srv.base, spec)
		rss.stop()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", route, err)
		}
		if err := profiled(); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", route, err)
		}
		sc := sum.Scenarios[0]
		c.RPS, c.P50, c.P99 = sc.RPS, sc.Latency.P50, sc.Latency.P99
		c.Requests, c.Errors, c.ByStatus = sc.Requests, sc.Errors, sc.ByStatus
		c.RSSMB, c.RSSFileMB, c.RSSAnonMB = float64(rss.max.total)/1024, float64(rss.max.file)/1024, float64(rss.max.anon)/1024
		c.ServerCPU = serverCPU.perRequest(sc.Requests)
		if sc.Requests > 0 {
			c.GenCPU = sum.CPUSeconds * 1e6 / float64(sc.Requests)
		}
		// Throughput counts answered requests only: a 503 from the hash queue is not a login.
		ok := float64(sc.Requests-sc.Errors) / sum.Duration
		c.RPS = ok
		if c.FloorRPS > 0 {
			c.Ratio = ok / c.FloorRPS
		}
		fmt.Fprintf(os.Stderr, "  %-8s %9.1f req/s  p50 %6.2f  p99 %s ms  rss %5.1f MB (file %.1f, anon %.1f)  floor %9.1f/s  ratio %.3f  errors %d  CPU µs/req server %s generator %.1f\n",
			route, c.RPS, c.P50, withFloor("%.2f", c.P99, c.FloorP99), c.RSSMB, c.RSSFileMB, c.RSSAnonMB, c.FloorRPS, c.Ratio, c.Errors,
			withFloor("%.1f", c.ServerCPU, c.FloorCPU), c.GenCPU)
		cells = append(cells, c)
	}
	return cells, startMS, nil
}

// dropPageCache writes the binary back and drops its pages from the page cache, so that every
// server maps it as read from disk, as a deployed binary is. Straight after the linker wrote it,
// the page cache may hold it in folios of up to 2 MiB (Linux 6.18 on ext4), and the kernel maps a
// touched folio whole: the same binary then showed up to 9 MB more RssFile (FilePmdMapped 12 MB
// in its read-only data) than when read from disk, where each touched 4 KiB page maps its 64 KiB
// fault-around neighbourhood. Which of the two a run got depended on the build, not on the server.
func dropPageCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// process is a child server of the matrix.
type process struct {
	cmd   *exec.Cmd
	base  *url.URL
	ready time.Duration // from start to the first 200 of the health URL
	done  chan struct{}
	log   *os.File
}

func startFloor(ctx context.Context, tmp string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProcess(ctx, exec.Command(self, "-serve-floor", addr), addr, "/floor", tmp)
}

func startServer(ctx context.Context, binary string, env []string, dataDir string) (*process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	// PUBLIC_URL names the host localhost, not 127.0.0.1: the passkey relying-party id is taken from
	// it and must be a domain, never an IP address (the server refuses to start otherwise).
	_, port, _ := net.SplitHostPort(addr)
	cmd.Env = append(baseEnv(), append([]string{"PORTCULLIS_ADDR=" + addr, "PORTCULLIS_PUBLIC_URL=http://localhost:" + port}, env...)...)
	return startProcess(ctx, cmd, addr, "/healthz", dataDir)
}

// baseEnv is this process's environment without any PORTCULLIS_ setting, so that a server of
// the matrix runs with exactly the settings the matrix gives it.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PORTCULLIS_") {
			out = append(out, kv)
		}
	}
	return out
}

func startProcess(ctx context.Context, cmd *exec.Cmd, addr, health, logDir string) (*process, error) {
	logf, err := os.CreateTemp(logDir, "server-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with the generator, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{cmd: cmd, base: &url.URL{Scheme: "http", Host: addr}, done: make(chan struct{}), log: logf}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(p.base.String() + health)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.ready = time.Since(t0)
				return p, nil
			}
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before answering %s; its log:\n%s", cmd.Path, health, tail(logf.Name()))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer %s within 30s; its log:\n%s", cmd.Path, health, tail(logf.Name()))
		}
	}
}

// stop sends SIGTERM, waits up to 25 s, then kills.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(25 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rssSampler keeps the largest resident set of a process, sampled every 50 ms, with the split
// of that sample into file-backed pages and anonymous memory.
type rssSampler struct {
	max  rssSample
	quit chan struct{}
	wg   sync.WaitGroup
}

// rssSample is VmRSS and its RssFile and RssAnon parts (KiB) from /proc/PID/status. RssShmem,
// the third part, is not shown: the server maps no shared memory.
type rssSample struct{ total, file, anon int64 }

func (r *rssSampler) start(pid int) {
	r.quit = make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if s := readRSS(pid); s.total > r.max.total {
				r.max = s
			}
			select {
			case <-r.quit:
				return
			case <-t.C:
			}
		}
	}()
}

func (r *rssSampler) stop() {
	if r.quit != nil {
		close(r.quit)
		r.wg.Wait()
	}
}

// readRSS reads the resident set of pid (Linux), or zeroes.
func readRSS(pid int) rssSample {
	var s rssSample
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	defer f.Close()
	kib := func(rest string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		return n
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.total = kib(rest)
		} else if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			s.anon = kib(rest)
		} else if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			s.file = kib(rest)
		}
	}
	return s
}

// cpuWindow measures a process's CPU time (user + system, all its threads) from start to
// perRequest, from /proc/PID/stat.
type cpuWindow struct {
	pid int
	t0  time.Duration
	ok  bool
}

func (w *cpuWindow) start(pid int) {
	w.pid = pid
	w.t0, w.ok = procCPU(pid)
}

// perRequest is the CPU time since start in µs per request, or 0 when it could not be read.
func (w *cpuWindow) perRequest(requests int64) float64 {
	t1, ok := procCPU(w.pid)
	if !w.ok || !ok || requests <= 0 {
		return 0
	}
	return float64((t1 - w.t0).Microseconds()) / float64(requests)
}

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux architecture Go runs
// the matrix on.
const userHZ = 100

// procCPU reads utime + stime of pid from /proc/PID/stat (Linux). The command name, the second
// field, is in parentheses and may hold spaces, so the fields are counted after its last ')'.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) (time.Duration, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state): utime is field 14, stime 15
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / userHZ, true
}

func describeMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func pickList(flagName, s string, known []string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !slices.Contains(known, part) {
			return nil, fmt.Errorf("%s: unknown %q (want some of %s)", flagName, part, strings.Join(known, ","))
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: nothing to measure", flagName)
	}
	return out, nil
}

func parseEnv(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, _, ok := strings.Cut(part, "=")
		if !ok || !strings.HasPrefix(name, "PORTCULLIS_") {
			return nil, fmt.Errorf("-env: %q is not PORTCULLIS_NAME=VALUE", part)
		}
		out = append(out, part)
	}
	return out, nil
}

// checkRedisURL accepts a redis:// URL on loopback only.
func checkRedisURL(raw string) error {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !isLoopback(ip)) {
		return fmt.Errorf("-redis: %s is not loopback", host)
	}
	return nil
}

// deleteRedisPrefix removes every key the run wrote under prefix.
func deleteRedisPrefix(raw, prefix string) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == 500 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medians folds the runs' cells (same order in every run) into one cell of medians each.
func medians(runs [][]cell) []cell {
	if len(runs) == 0 {
		return nil
	}
	out := make([]cell, len(runs[0]))
	for i := range out {
		var rps, p50, p99, rss, rssFile, rssAnon, floor, floorP99, ratio, serverCPU, floorCPU, genCPU []float64
		c := runs[0][i]
		c.Requests, c.Errors, c.ByStatus = 0, 0, map[string]int64{}
		for _, run := range runs {
			r := run[i]
			rps, p50, p99 = append(rps, r.RPS), append(p50, r.P50), append(p99, r.P99)
			rss, floor, ratio = append(rss, r.RSSMB), append(floor, r.FloorRPS), append(ratio, r.Ratio)
			floorP99 = append(floorP99, r.FloorP99)
			rssFile, rssAnon = append(rssFile, r.RSSFileMB), append(rssAnon, r.RSSAnonMB)
			serverCPU, floorCPU, genCPU = append(serverCPU, r.ServerCPU), append(floorCPU, r.FloorCPU), append(genCPU, r.GenCPU)
			c.Requests += r.Requests
			c.Errors += r.Errors
			for k, n := range r.ByStatus {
				c.ByStatus[k] += n
			}
		}
		c.RPS, c.P50, c.P99, c.RSSMB, c.FloorRPS, c.Ratio = median(rps), median(p50), median(p99), median(rss), median(floor), median(ratio)
		c.RSSFileMB, c.RSSAnonMB, c.FloorP99 = median(rssFile), median(rssAnon), median(floorP99)
		c.ServerCPU, c.FloorCPU, c.GenCPU = median(serverCPU), median(floorCPU), median(genCPU)
		out[i] = c
	}
	return out
}

// withFloor formats v, followed by its floor's figure in parentheses where the floor has one
// (the argon2id loop has no latency: a login cell shows the loop's CPU per hash, not its p99).
func withFloor(format string, v, floor float64) string {
	s := fmt.Sprintf(format, v)
	if floor > 0 {
		s += " (" + fmt.Sprintf(format, floor) + ")"
	}
	return s
}

func (r matrixReport) print(out io.Writer) {
	fmt.Fprintf(out, "machine: %s, %d CPUs, %s, %s\n", r.Machine.CPU, r.Machine.NumCPU, r.Machine.OS, r.Machine.Go)
	fmt.Fprintf(out, "median of %d runs of %.0fs per cell; ratio = req/s over the floor measured just before it\n\n", r.Runs, r.Duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\troute\tconns\treq/s\tp50 ms\tp99 ms (floor)\tRSS MB\tfile+anon MB\tfloor\tfloor/s\tratio\tCPU µs/req server (floor)\terrors (all runs)\t")
	for _, c := range r.Cells {
		errs := ""
		if c.Errors > 0 {
			keys := make([]string, 0, len(c.ByStatus))
			for k := range c.ByStatus {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				label := k
				if k == "0" {
					label = "transport"
				}
				errs += fmt.Sprintf(" %s×%d", label, c.ByStatus[k])
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%s\t%.1f\t%.1f+%.1f\t%s\t%.0f\t%.3f\t%s\t%d%s\t\n", c.Store, c.Route, c.Conns, c.RPS,
			c.P50, withFloor("%.2f", c.P99, c.FloorP99), c.RSSMB, c.RSSFileMB, c.RSSAnonMB, c.FloorKind, c.FloorRPS, c.Ratio,
			withFloor("%.1f", c.ServerCPU, c.FloorCPU), c.Errors, errs)
	}
	_ = tw.Flush()
	stores := make([]string, 0, len(r.StartMS))
	for s := range r.StartMS {
		stores = append(stores, s)
	}
	slices.Sort(stores)
	fmt.Fprint(out, "\nstart to first /healthz 200 on an existing data directory:")
	for _, s := range stores {
		fmt.Fprintf(out, " %s %.0f ms;", s, r.StartMS[s])
	}
	fmt.Fprintln(out)
}
