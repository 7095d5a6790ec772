// Command load is a load generator for whole-service throughput (docs/architecture.md, "Testing"):
// it drives a running Portcullis with a weighted mix of requests from a fixed number of
// workers and reports, per scenario, requests, errors by status, throughput and latency
// percentiles.
//
//	go run ./test/load -url http://127.0.0.1:8080 -duration 15s -concurrency 16 -mix me=90,refresh=8,login=2
//	task load -- -duration 15s -json
//
// It first registers -users accounts (random emails, one fixed strong password), then every
// worker logs in as one of them to own a session, and for -duration picks scenarios by weight:
//
//	me       GET /api/users/me with the worker's Bearer access token
//	refresh  POST /api/auth/refresh with the worker's own refresh token; the answer replaces
//	         both tokens, so each worker walks its own rotation chain (a 401 here is a bug and is
//	         counted apart as "refresh_401")
//	login    POST /api/auth/login as the worker's user (argon2id: CPU-heavy by design)
//
// Every non-2xx answer is an error; status 0 is a transport error (refused, reset, timeout).
//
// Safety: it only talks to loopback. A -url whose host does not resolve to 127.0.0.0/8 or ::1
// is refused, and every connection is checked again at dial time (no proxy, no redirects).
// Every loop is bounded in time (-duration, at most 5m, plus a short setup and drain) and in
// count (-max-requests, -users, -concurrency), so it stops by itself.
//
// Latency is kept in an HdrHistogram per worker and scenario: microsecond resolution, three
// significant digits, fixed memory whatever the run length.
//
// The generator shares the machine's CPUs with the server it measures; the summary says how much
// CPU it used itself, so figures from a small machine are read as lower bounds. Unix only
// (getrusage).
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

const (
	maxDuration    = 5 * time.Minute
	maxConcurrency = 1024
	maxUsers       = 500
	setupTimeout   = 2 * time.Minute // registration and the workers' first logins
	requestTimeout = 15 * time.Second
	password       = "Load-gen: correct horse battery staple 7!"
	maxBody        = 1 << 20
)

var scenarioNames = []string{"me", "refresh", "login", "floor"}

const (
	scMe = iota
	scRefresh
	scLogin
	scFloor // GET /floor on the matrix mode's bare Fiber handler: no account, no token
	numScenarios
)

type options struct {
	url         string
	duration    time.Duration
	concurrency int
	users       int
	mix         string
	jsonOut     bool
	maxRequests int64
}

// loadSpec is one measured run against one server.
type loadSpec struct {
	concurrency int
	users       int
	weights     [numScenarios]int
	duration    time.Duration
	maxRequests int64
	// started, when set, is called as the timed window opens (after registration and the
	// workers' first logins), so that samplers measure the load and not the setup.
	started func()
	// settle is an idle pause between the setup and the timed window: the setup's logins
	// hash passwords, and the server gives that memory back only once hashing has been idle
	// for a moment (adapters/password), so the resident set of a cheap route would otherwise
	// show the setup's argon2id working sets.
	settle time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base URL of the server (loopback only)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send load (at most 5m)")
	flag.IntVar(&o.concurrency, "concurrency", 16, "workers, each with its own session and connection")
	flag.IntVar(&o.users, "users", 20, "accounts registered first (argon2id-bound: keep it small)")
	flag.StringVar(&o.mix, "mix", "me=90,refresh=8,login=2", "scenario weights: me, refresh, login")
	flag.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON")
	flag.Int64Var(&o.maxRequests, "max-requests", 50_000_000, "stop after this many measured requests")
	var m matrixOptions
	flag.BoolVar(&m.enabled, "matrix", false, "matrix mode: start floors and a server per store, measure every route (see matrix.go)")
	flag.IntVar(&m.runs, "runs", 3, "matrix: how many times to run the whole matrix (medians are reported)")
	flag.StringVar(&m.stores, "stores", "memory,sqlite,redis", "matrix: session stores to measure: memory, sqlite, redis (users in SQLite), postgres (users and sessions in PostgreSQL, needs -postgres)")
	flag.StringVar(&m.routes, "routes", "me,refresh,login,login32", "matrix: routes to measure")
	flag.StringVar(&m.binary, "binary", "", "matrix: portcullis binary to start (default: go build ./cmd/portcullis)")
	flag.StringVar(&m.redisURL, "redis", os.Getenv("PORTCULLIS_TEST_REDIS_URL"), "matrix: Redis for the redis store (loopback only)")
	flag.StringVar(&m.pgURL, "postgres", os.Getenv("PORTCULLIS_TEST_POSTGRES_URL"), "matrix: PostgreSQL server for the postgres store, which keeps users and sessions in a database made for the run (loopback only)")
	flag.StringVar(&m.env, "env", "", "matrix: extra PORTCULLIS_* settings for every server, comma-separated NAME=VALUE")
	flag.StringVar(&m.floorAddr, "serve-floor", "", "internal: serve the bare Fiber floor on this loopback address")
	flag.IntVar(&m.conns, "matrix-conns", 32, "matrix: connections for me, refresh and login32")
	flag.IntVar(&m.loginConns, "login-conns", 4, "matrix: connections for login")
	flag.StringVar(&m.cpuProfile, "cpuprofile", "", "matrix: write the server's CPU profile over the me and refresh windows, merged, to this file (for go tool pprof)")
	flag.Parse()
	if m.floorAddr != "" {
		if err := serveFloor(m.floorAddr); err != nil {
			fmt.Fprintln(os.Stderr, "load: floor:", err)
			os.Exit(1)
		}
		return
	}
	if m.enabled {
		if err := runMatrix(o, m); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	switch {
	case o.duration <= 0 || o.duration > maxDuration:
		return fmt.Errorf("-duration must be in (0, %s]", maxDuration)
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return fmt.Errorf("-concurrency must be in [1, %d]", maxConcurrency)
	case o.users < 1 || o.users > maxUsers:
		return fmt.Errorf("-users must be in [1, %d]", maxUsers)
	case o.maxRequests < 1:
		return errors.New("-max-requests must be positive")
	}
	weights, err := parseMix(o.mix)
	if err != nil {
		return err
	}
	base, err := checkURL(o.url)
	if err != nil {
		return err
	}

	// Ctrl-C ends the run early but still prints what was measured.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	sum, err := measure(ctx, base, loadSpec{concurrency: o.concurrency, users: o.users, weights: weights,
		duration: o.duration, maxRequests: o.maxRequests})
	if err != nil {
		return err
	}
	sum.URL, sum.Mix = o.url, o.mix
	if o.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	sum.print(os.Stdout)
	return nil
}

// measure registers spec.users accounts and logs every worker in (unless only the floor is
// asked for), then sends spec's mix for spec.duration and summarises it.
func measure(ctx context.Context, base *url.URL, spec loadSpec) (summary, error) {
	c := &client{base: base, http: newHTTPClient(spec.concurrency)}
	defer c.http.CloseIdleConnections()
	needSession := spec.weights[scMe]+spec.weights[scRefresh]+spec.weights[scLogin] > 0

	setupStart := time.Now()
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	var emails []string
	if needSession {
		var err error
		if emails, err = c.registerUsers(sctx, spec.users, min(spec.concurrency, runtime.NumCPU()*2)); err != nil {
			cancel()
			return summary{}, err
		}
	}
	workers := make([]*worker, spec.concurrency)
	for i := range workers {
		workers[i] = &worker{c: c, weights: spec.weights,
			rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))}
		if needSession {
			workers[i].email = emails[i%len(emails)]
		}
		for s := range workers[i].stats {
			workers[i].stats[s].errors = map[string]int64{}
			workers[i].stats[s].hist = newHistogram()
		}
	}
	if needSession {
		if err := parallel(sctx, spec.concurrency, min(spec.concurrency, runtime.NumCPU()*2), func(ctx context.Context, i int) error {
			return workers[i].login(ctx)
		}); err != nil {
			cancel()
			return summary{}, fmt.Errorf("first logins: %w", err)
		}
	}
	cancel()
	setup := time.Since(setupStart)
	if spec.settle > 0 {
		select {
		case <-ctx.Done():
			return summary{}, ctx.Err()
		case <-time.After(spec.settle):
		}
	}

	if spec.started != nil {
		spec.started()
	}
	cpu0 := cpuTime()
	start := time.Now()
	rctx, cancel := context.WithDeadline(ctx, start.Add(spec.duration))
	defer cancel()
	var budget atomic.Int64
	budget.Store(spec.maxRequests)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(rctx, &budget)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	return summarize(spec, workers, elapsed, setup, cpu), nil
}

// parseMix reads "me=90,refresh=8,login=2" into weights per scenario.
func parseMix(s string) ([numScenarios]int, error) {
	var w [numScenarios]int
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return w, fmt.Errorf("-mix: %q is not name=weight", part)
		}
		idx := -1
		for i, n := range scenarioNames {
			if strings.TrimSpace(name) == n {
				idx = i
			}
		}
		if idx < 0 {
			return w, fmt.Errorf("-mix: unknown scenario %q (want %s)", name, strings.Join(scenarioNames, ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || n < 0 || n > 1_000_000 {
			return w, fmt.Errorf("-mix: weight %q of %s is not an integer in [0, 1000000]", val, name)
		}
		w[idx] = n
		total += n
	}
	if total == 0 {
		return w, errors.New("-mix: the weights add up to zero")
	}
	return w, nil
}

// checkURL accepts http(s) URLs whose host resolves only to loopback addresses.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-url: scheme %q, want http or https", u.Scheme)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("-url: give a base URL without credentials, query or fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("-url: no host")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("-url: resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("-url: %s resolves to nothing", host)
	}
	for _, a := range addrs {
		if !isLoopback(a.IP) {
			return nil, fmt.Errorf("-url: %s resolves to %s, not loopback: this tool only targets 127.0.0.0/8 or ::1", host, a.IP)
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// isLoopback is 127.0.0.0/8 (also IPv4-mapped) or ::1.
func isLoopback(ip net.IP) bool {
	if v4 := ip.To4(); v4 != nil {
		return v4[0] == 127
	}
	return ip.Equal(net.IPv6loopback)
}

// newHTTPClient keeps one idle connection per worker, never uses a proxy or follows a
// redirect, and refuses at dial time any address that is not loopback (a name could resolve
// differently after checkURL).
func newHTTPClient(concurrency int) *http.Client {
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !isLoopback(ip) {
				return fmt.Errorf("refusing to connect to %s: not loopback", address)
			}
			return nil
		},
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		MaxIdleConns:          concurrency,
		MaxIdleConnsPerHost:   concurrency,
		MaxConnsPerHost:       concurrency,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// parallel runs fn(0..n-1) with at most width at once and returns the first error.
func parallel(ctx context.Context, n, width int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		next  atomic.Int64
	)
	for range max(1, width) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

type client struct {
	base *url.URL
	http *http.Client
}

// do sends one request and returns the status (0 on a transport error) and the body of a 2xx.
func (c *client) do(ctx context.Context, method, path, bearer string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "portcullis-load")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// Read the whole body so that the connection goes back to the pool.
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}

func (c *client) registerUsers(ctx context.Context, n, width int) ([]string, error) {
	tag := randomHex(6)
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("load-%s-%d-%s@example.com", tag, i, randomHex(4))
	}
	err := parallel(ctx, n, width, func(ctx context.Context, i int) error {
		status, body, err := c.do(ctx, http.MethodPost, "/api/auth/register", "",
			map[string]string{"email": emails[i], "password": password, "name": "Load Generator"})
		if err != nil {
			return fmt.Errorf("register %s: %w", emails[i], err)
		}
		if status != http.StatusCreated {
			return fmt.Errorf("register %s: status %d: %s", emails[i], status, truncate(body))
		}
		return nil
	})
	return emails, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

func truncate(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return strings.TrimSpace(string(b))
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

type scenarioStats struct {
	hist       *hdrhistogram.Histogram // µs
	requests   int64
	errors     map[string]int64 // by status ("0" = transport error)
	refresh401 int64
}

type worker struct {
	c       *client
	email   string
	weights [numScenarios]int
	rng     *mrand.Rand
	access  string
	refresh string
	stats   [numScenarios]scenarioStats
	relogin int64 // chains restarted after a failed refresh
}

// login opens the worker's own session (setup, or after its chain broke).
func (w *worker) login(ctx context.Context) error {
	status, body, err := w.c.do(ctx, http.MethodPost, "/api/auth/login", "",
		map[string]string{"email": w.email, "password": password})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("login: status %d: %s", status, truncate(body))
	}
	var t tokens
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
		return fmt.Errorf("login: no tokens in the answer: %s", truncate(body))
	}
	w.access, w.refresh = t.AccessToken, t.RefreshToken
	return nil
}

func (w *worker) pick() int {
	total := 0
	for _, n := range w.weights {
		total += n
	}
	r := w.rng.IntN(total)
	for i, n := range w.weights {
		if r < n {
			return i
		}
		r -= n
	}
	return numScenarios - 1
}

// loop sends requests until ctx ends or the shared budget runs out.
func (w *worker) loop(ctx context.Context, budget *atomic.Int64) {
	for ctx.Err() == nil && budget.Add(-1) >= 0 {
		sc := w.pick()
		var (
			status int
			body   []byte
			err    error
		)
		t0 := time.Now()
		switch sc {
		case scMe:
			status, _, err = w.c.do(ctx, http.MethodGet, "/api/users/me", w.access, nil)
		case scRefresh:
			status, body, err = w.c.do(ctx, http.MethodPost, "/api/auth/refresh", "",
				map[string]string{"refresh_token": w.refresh})
		case scLogin:
			status, _, err = w.c.do(ctx, http.MethodPost, "/api/auth/login", "",
				map[string]string{"email": w.email, "password": password})
		case scFloor:
			status, _, err = w.c.do(ctx, http.MethodGet, "/floor", "", nil)
		}
		d := time.Since(t0)
		if err != nil && ctx.Err() != nil {
			return // cut off by the end of the run: not a measurement
		}
		st := &w.stats[sc]
		st.requests++
		_ = st.hist.RecordValue(min(max(d.Microseconds(), 1), st.hist.HighestTrackableValue()))
		ok := err == nil && status >= 200 && status < 300
		if !ok {
			st.errors[strconv.Itoa(status)]++
		}
		if sc != scRefresh {
			continue
		}
		if ok {
			var t tokens
			if json.Unmarshal(body, &t) == nil && t.AccessToken != "" && t.RefreshToken != "" {
				w.access, w.refresh = t.AccessToken, t.RefreshToken
				continue
			}
			st.errors["bad_body"]++
		}
		if status == http.StatusUnauthorized {
			st.refresh401++
		}
		// The chain is broken or in doubt: start a new one (one attempt, not measured).
		w.relogin++
		if w.login(ctx) != nil && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond) // the server is struggling; do not spin
		}
	}
}

// newHistogram records latencies in microseconds, from 1 µs to one hour, to 3 significant
// digits (HdrHistogram): fixed memory whatever the run length.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
}

type latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

type scenarioSummary struct {
	Name       string           `json:"name"`
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"`
	ByStatus   map[string]int64 `json:"errors_by_status,omitempty"`
	Refresh401 int64            `json:"refresh_401,omitempty"`
	RPS        float64          `json:"rps"`
	Latency    latency          `json:"latency"`
}

type summary struct {
	URL         string            `json:"url"`
	Duration    float64           `json:"duration_s"`
	Setup       float64           `json:"setup_s"`
	Concurrency int               `json:"concurrency"`
	Users       int               `json:"users"`
	Mix         string            `json:"mix"`
	Scenarios   []scenarioSummary `json:"scenarios"`
	Requests    int64             `json:"requests"`
	Errors      int64             `json:"errors"`
	RPS         float64           `json:"rps"`
	Relogins    int64             `json:"chain_restarts"`
	CPUSeconds  float64           `json:"loadgen_cpu_s"`
	CPUCores    float64           `json:"loadgen_cpu_cores"`
	NumCPU      int               `json:"num_cpu"`
	Note        string            `json:"note"`
}

func ms(us int64) float64 { return math.Round(float64(us)/10) / 100 }

func summarize(spec loadSpec, workers []*worker, elapsed, setup, cpu time.Duration) summary {
	weights := spec.weights
	s := summary{Duration: elapsed.Seconds(), Setup: setup.Seconds(), Concurrency: spec.concurrency,
		Users: spec.users, NumCPU: runtime.NumCPU(), CPUSeconds: cpu.Seconds()}
	s.CPUCores = cpu.Seconds() / elapsed.Seconds()
	s.Note = fmt.Sprintf("the load generator used %.2f of the machine's %d CPUs (%.0f%%), which it shares with the server: figures are lower bounds for a dedicated server",
		s.CPUCores, s.NumCPU, 100*s.CPUCores/float64(s.NumCPU))
	for sc := range numScenarios {
		h := newHistogram()
		out := scenarioSummary{Name: scenarioNames[sc], ByStatus: map[string]int64{}}
		for _, w := range workers {
			st := &w.stats[sc]
			h.Merge(st.hist)
			out.Requests += st.requests
			out.Refresh401 += st.refresh401
			for k, n := range st.errors {
				out.ByStatus[k] += n
				out.Errors += n
			}
		}
		if weights[sc] == 0 {
			continue
		}
		out.RPS = float64(out.Requests) / elapsed.Seconds()
		out.Latency = latency{P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
			Max: ms(h.Max()), Mean: ms(int64(h.Mean()))}
		s.Scenarios = append(s.Scenarios, out)
		s.Requests += out.Requests
		s.Errors += out.Errors
	}
	for _, w := range workers {
		s.Relogins += w.relogin
	}
	s.RPS = float64(s.Requests) / elapsed.Seconds()
	return s
}

func (s summary) print(out io.Writer) {
	fmt.Fprintf(out, "target %s  concurrency %d  users %d  mix %s\n", s.URL, s.Concurrency, s.Users, s.Mix)
	fmt.Fprintf(out, "setup %.1fs (registration + one login per worker), measured %.1fs\n\n", s.Setup, s.Duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\terrors\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	for _, sc := range s.Scenarios {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", sc.Name, sc.Requests, sc.Errors, sc.RPS,
			sc.Latency.P50, sc.Latency.P90, sc.Latency.P99, sc.Latency.Max)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%.1f\t\t\t\t\t\n", s.Requests, s.Errors, s.RPS)
	_ = tw.Flush()
	for _, sc := range s.Scenarios {
		if sc.Errors == 0 {
			continue
		}
		keys := make([]string, 0, len(sc.ByStatus))
		for k := range sc.ByStatus {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			label := k
			if k == "0" {
				label = "transport"
			}
			parts = append(parts, fmt.Sprintf("%s×%d", label, sc.ByStatus[k]))
		}
		fmt.Fprintf(out, "errors %s: %s\n", sc.Name, strings.Join(parts, " "))
		if sc.Refresh401 > 0 {
			fmt.Fprintf(out, "BUG: %d refresh requests with the worker's own latest token were refused (401)\n", sc.Refresh401)
		}
	}
	if s.Relogins > 0 {
		fmt.Fprintf(out, "refresh chains restarted by a new login: %d\n", s.Relogins)
	}
	fmt.Fprintf(out, "\nnote: %s\n", s.Note)
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
