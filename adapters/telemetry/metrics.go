package telemetry

import (
	"errors"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portcullis-auth/portcullis/domain"
)

// namespace starts the name of every Portcullis metric.
const namespace = "portcullis"

// Build identifies the running binary in portcullis_build_info.
type Build struct {
	Version string
	Commit  string
}

// Metrics holds the Prometheus registry of one process and every Portcullis metric. No label
// carries user data: routes are templates (/api/users/:id), never paths.
type Metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.HistogramVec
	logins          *prometheus.CounterVec
	refreshes       *prometheus.CounterVec
	sessionsCreated prometheus.Counter
	sessionsRevoked prometheus.Counter
	hashWait        *prometheus.HistogramVec
	hashWork        *prometheus.HistogramVec
	storeCalls      *prometheus.HistogramVec
	storeErrors     *prometheus.CounterVec
	mfa             *mfaMetrics

	// requestSeries caches the histogram of each (route, method, status) seen, so that
	// observing a request is a map read under a read lock, without allocating.
	mu            sync.RWMutex
	requestSeries map[requestKey]prometheus.Observer
}

type requestKey struct {
	route, method string
	status        int
}

// Login outcomes (portcullis_logins_total{outcome}).
const (
	LoginOK             = "ok"
	LoginBadCredentials = "bad_credentials"
	LoginLocked         = "locked"
	LoginDisabled       = "disabled"
	LoginOther          = "other"
)

// Refresh outcomes (portcullis_refreshes_total{outcome}).
const (
	RefreshRotated      = "rotated"
	RefreshGrace        = "grace"
	RefreshReuseRevoked = "reuse_revoked"
	RefreshInvalid      = "invalid"
)

// NewMetrics builds the registry with the Go runtime and process collectors, build info and
// every Portcullis metric. keyAge, when not nil, is read at each scrape for the age of the
// signing key.
func NewMetrics(build Build, keyAge func() time.Duration) *Metrics {
	r := prometheus.NewRegistry()
	latency := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		registry: r,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "http",
			Name:    "request_duration_seconds",
			Help:    "HTTP requests by route template, method and status: count and latency (from the request's arrival to its response).",
			Buckets: latency},
			[]string{"route", "method", "status"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "logins_total",
			Help: "Password logins by outcome: ok, bad_credentials, locked, disabled or other."}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "refreshes_total",
			Help: "Refresh-token presentations that reached the session store, by outcome: rotated, grace, reuse_revoked or invalid."},
			[]string{"outcome"}),
		sessionsCreated: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "sessions_created_total",
			Help: "Sessions created (logins)."}),
		sessionsRevoked: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "sessions_revoked_total",
			Help: "Sessions ended before their time: logout, revocation, password change, disabling, refresh-token reuse."}),
		hashWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "password",
			Name: "queue_wait_seconds", Help: "Time a password hash or verification waited for a hashing slot.",
			Buckets: latency}, []string{"op"}),
		hashWork: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "password",
			Name: "hash_seconds", Help: "Time a password hash or verification computed.",
			Buckets: latency}, []string{"op"}),
		storeCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "store",
			Name: "call_duration_seconds", Help: "Store calls by store and operation: count and latency.",
			Buckets: latency}, []string{"store", "op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "store",
			Name: "errors_total", Help: "Store calls that failed (not counting answers such as not found or conflict), by store and operation."},
			[]string{"store", "op"}),
		requestSeries: map[requestKey]prometheus.Observer{},
		mfa:           newMFAMetrics(),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "go_version": runtime.Version()}})
	info.Set(1)
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		info,
		m.requests, m.logins, m.refreshes, m.sessionsCreated, m.sessionsRevoked,
		m.hashWait, m.hashWork, m.storeCalls, m.storeErrors,
	)
	r.MustRegister(m.mfa.collectors()...)
	if keyAge != nil {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "signing_key_age_seconds",
			Help: "How long the key that signs access tokens now has been signing (0: none)."},
			func() float64 { return keyAge().Seconds() }))
	}
	// Series that exist from the start read 0 instead of missing until their first event.
	for _, o := range []string{LoginOK, LoginBadCredentials, LoginLocked, LoginDisabled, LoginOther} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{RefreshRotated, RefreshGrace, RefreshReuseRevoked, RefreshInvalid} {
		m.refreshes.WithLabelValues(o)
	}
	return m
}

// Handler serves the registry in the Prometheus text format (or OpenMetrics, when asked).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Registry is the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveRequest records one HTTP request. route is the route template ("" when no route
// matched, recorded as "unmatched"), so the label set stays bounded whatever paths clients try.
func (m *Metrics) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	k := requestKey{route: route, method: method, status: status}
	m.mu.RLock()
	o, ok := m.requestSeries[k]
	m.mu.RUnlock()
	if !ok {
		o = m.requests.WithLabelValues(route, method, strconv.Itoa(status))
		m.mu.Lock()
		m.requestSeries[k] = o
		m.mu.Unlock()
	}
	o.Observe(elapsed.Seconds())
}

// ObserveHash records one password hash or verification; it is the password adapter's Timings.
func (m *Metrics) ObserveHash(op string, wait, work time.Duration) {
	m.hashWait.WithLabelValues(op).Observe(wait.Seconds())
	m.hashWork.WithLabelValues(op).Observe(work.Seconds())
}

// observeStore records one store call. An error that is an answer (not found, conflict, stale
// write, refresh-token reuse) is not a failure of the store and is not counted as an error.
func (m *Metrics) observeStore(store, op string, elapsed time.Duration, err error) {
	m.storeCalls.WithLabelValues(store, op).Observe(elapsed.Seconds())
	if err != nil && !isAnswer(err) {
		m.storeErrors.WithLabelValues(store, op).Inc()
	}
}

func isAnswer(err error) bool {
	return errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrConflict) ||
		errors.Is(err, domain.ErrStale) || errors.Is(err, domain.ErrRefreshReuse)
}

// loginOutcome maps the audit trail's login-failure outcome to the metric's.
func loginOutcome(auditOutcome string) string {
	switch auditOutcome {
	case "ok":
		return LoginOK
	case "bad_password", "unknown_account":
		return LoginBadCredentials
	case "disabled", "disabled_during_login":
		return LoginDisabled
	case "locked", "throttled":
		return LoginLocked
	}
	return LoginOther
}
