package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/fx"

	"github.com/portcullis-auth/portcullis/adapters/telemetry"
)

// scrape reads /metrics through c and parses it as the Prometheus text format.
func scrape(t *testing.T, c *client) map[string]*dto.MetricFamily {
	t.Helper()
	r := c.do(http.MethodGet, "/metrics", nil).expect(http.StatusOK)
	return parseMetrics(t, r.Body)
}

func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	return families
}

// sample is the value of the series of family name whose labels include want (a counter's
// value, a histogram's count, a gauge's value); 0 when there is none.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestMetricsMoveWithTraffic: after a flow (register, a good and a bad login, a refresh, a
// grace replay, logout), every counter moved by exactly what the
// flow did; the exposition parses; no label carries the account's email or id.
func TestMetricsMoveWithTraffic(t *testing.T) {
	s := startServer(t, map[string]string{"PORTCULLIS_REFRESH_GRACE": "1m"})
	ops := s.apiClient()
	before := scrape(t, ops)

	api := s.apiClient()
	a := api.register(t)
	api.do("POST", "/api/auth/login", map[string]string{"email": a.Email, "password": "wrong password 123"}).expect(http.StatusUnauthorized)
	tk := api.login(t, a)
	first := api.refresh(tk.RefreshToken).expect(http.StatusOK)
	var next tokens
	first.decode(&next)
	api.refresh(tk.RefreshToken).expect(http.StatusOK) // the predecessor within the grace window
	// logout ends the session.
	api.do("POST", "/api/auth/logout", nil, bearer(next.AccessToken)...).expect(http.StatusNoContent)

	after := scrape(t, ops)
	delta := func(name string, labels map[string]string) float64 {
		return sample(after, name, labels) - sample(before, name, labels)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"portcullis_logins_total", map[string]string{"outcome": "ok"}, 1},
		{"portcullis_logins_total", map[string]string{"outcome": "bad_credentials"}, 1},
		{"portcullis_logins_total", map[string]string{"outcome": "disabled"}, 0},
		{"portcullis_refreshes_total", map[string]string{"outcome": "rotated"}, 1},
		{"portcullis_refreshes_total", map[string]string{"outcome": "grace"}, 1},
		{"portcullis_refreshes_total", map[string]string{"outcome": "invalid"}, 0},
		{"portcullis_sessions_created_total", nil, 1},
		{"portcullis_sessions_revoked_total", nil, 1},
		{"portcullis_http_request_duration_seconds", map[string]string{"route": "/api/auth/login", "method": "POST", "status": "200"}, 1},
		{"portcullis_http_request_duration_seconds", map[string]string{"route": "/api/auth/login", "method": "POST", "status": "401"}, 1},
		{"portcullis_http_request_duration_seconds", map[string]string{"route": "/api/auth/register", "method": "POST", "status": "201"}, 1},
		{"portcullis_http_request_duration_seconds", map[string]string{"route": "/api/auth/refresh", "method": "POST", "status": "200"}, 2},
		{"portcullis_http_request_duration_seconds", map[string]string{"route": "/metrics", "method": "GET", "status": "200"}, 1},
		// register hashes once; each login verifies once (the bad one too).
		{"portcullis_password_hash_seconds", map[string]string{"op": "hash"}, 1},
		{"portcullis_password_hash_seconds", map[string]string{"op": "verify"}, 2},
		{"portcullis_password_queue_wait_seconds", map[string]string{"op": "verify"}, 2},
		{"portcullis_store_call_duration_seconds", map[string]string{"store": "sessions", "op": "create"}, 1},
		{"portcullis_store_call_duration_seconds", map[string]string{"store": "sessions", "op": "rotate"}, 2},
		{"portcullis_store_call_duration_seconds", map[string]string{"store": "users", "op": "create"}, 1},
		{"portcullis_store_errors_total", nil, 0},
	} {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// An unmatched path is one series, whatever the path.
	api.do(http.MethodGet, "/no/such/"+randHex(8), nil).expect(http.StatusNotFound)
	api.do(http.MethodGet, "/no/such/"+randHex(8), nil).expect(http.StatusNotFound)
	after = scrape(t, ops)
	if got := sample(after, "portcullis_http_request_duration_seconds", map[string]string{"route": "unmatched", "status": "404"}); got != 2 {
		t.Errorf("unmatched 404s counted %v, want 2", got)
	}

	for _, name := range []string{"portcullis_build_info", "go_goroutines", "process_cpu_seconds_total", "portcullis_signing_key_age_seconds"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
	if age := sample(after, "portcullis_signing_key_age_seconds", nil); age < 0 || age > 3600 {
		t.Errorf("signing key age %v s for a key made at start", age)
	}
	// No user data in any label.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), a.Email) || strings.Contains(l.GetValue(), a.User.ID) || strings.Contains(l.GetValue(), "@") {
					t.Errorf("%s has user data in label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsOnSeparateListener: with PORTCULLIS_METRICS_ADDR, /metrics is served there and not
// on the API's listener.
func TestMetricsOnSeparateListener(t *testing.T) {
	s := startServer(t, map[string]string{"PORTCULLIS_METRICS_ADDR": "127.0.0.1:0"})
	api := s.apiClient()
	api.do(http.MethodGet, "/metrics", nil).expect(http.StatusNotFound)
	m := regexp.MustCompile(`"metrics listening","url":"(http://127\.0\.0\.1:\d+/metrics)"`).FindStringSubmatch(s.Logs.String())
	if m == nil {
		t.Fatalf("no 'metrics listening' line in the logs:\n%s", tail(s.Logs.String(), 30))
	}
	res, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", m[1], res.StatusCode)
	}
	if f := parseMetrics(t, body); f["portcullis_build_info"] == nil {
		t.Error("the separate listener serves no portcullis_build_info")
	}
	// Profiles are asked for apart (PORTCULLIS_PPROF): not on the metrics listener without it.
	base := strings.TrimSuffix(m[1], "metrics")
	for _, path := range []string{"debug/pprof/", "debug/pprof/heap", "debug/pprof/profile?seconds=1"} {
		if status := httpStatus(t, base+path); status != http.StatusNotFound {
			t.Errorf("GET %s%s without PORTCULLIS_PPROF: %d, want 404", base, path, status)
		}
	}
}

// TestProfilesOnMetricsListener: with PORTCULLIS_PPROF the metrics listener serves the Go
// runtime's profiles, in the format go tool pprof and -pgo read; the API's listener never does.
func TestProfilesOnMetricsListener(t *testing.T) {
	s := startServer(t, map[string]string{"PORTCULLIS_METRICS_ADDR": "127.0.0.1:0", "PORTCULLIS_PPROF": "true"})
	api := s.apiClient()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
		api.do(http.MethodGet, path, nil).expect(http.StatusNotFound)
	}
	m := regexp.MustCompile(`"profiles listening","url":"(http://127\.0\.0\.1:\d+/debug/pprof/)"`).FindStringSubmatch(s.Logs.String())
	if m == nil {
		t.Fatalf("no 'profiles listening' line in the logs:\n%s", tail(s.Logs.String(), 30))
	}
	cpu := fetchProfile(t, m[1]+"profile?seconds=1")
	if len(cpu.SampleType) == 0 || cpu.SampleType[len(cpu.SampleType)-1].Type != "cpu" {
		t.Errorf("the CPU profile's sample types are %v, want cpu last", cpu.SampleType)
	}
	if cpu.DurationNanos < int64(900*time.Millisecond) {
		t.Errorf("the CPU profile covers %v, want about the second asked for", time.Duration(cpu.DurationNanos))
	}
	heap := fetchProfile(t, m[1]+"heap")
	if len(heap.Sample) == 0 {
		t.Error("the heap profile has no samples")
	}
}

// fetchProfile reads a profile in the pprof format from url.
func fetchProfile(t *testing.T, url string) *profile.Profile {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, body)
	}
	p, err := profile.Parse(res.Body)
	if err != nil {
		t.Fatalf("GET %s: not a profile: %v", url, err)
	}
	return p
}

// httpStatus is the status of a GET of url.
func httpStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// TestTracesOfLogin: with an in-memory exporter, one login is a request span with a use-case
// child ("login") under which the store calls and the password verification are spans; the
// access log line carries the trace id; no attribute of any span holds a secret.
func TestTracesOfLogin(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := startServer(t, nil, fx.Decorate(func(*telemetry.Tracing) *telemetry.Tracing { return telemetry.WithProvider(tp) }))
	api := s.apiClient()
	a := api.register(t)
	exp.Reset()
	tk := api.login(t, a)

	spans := exp.GetSpans()
	var request, useCase *tracetest.SpanStub
	for i := range spans {
		switch spans[i].Name {
		case "POST /api/auth/login":
			request = &spans[i]
		case "login":
			useCase = &spans[i]
		}
	}
	if request == nil || useCase == nil {
		t.Fatalf("want a request span and a use-case span, got %v", spanNames(spans))
	}
	if useCase.Parent.SpanID() != request.SpanContext.SpanID() {
		t.Errorf("the use-case span is not a child of the request span")
	}
	children := map[string]bool{}
	for _, sp := range spans {
		if sp.Parent.SpanID() == useCase.SpanContext.SpanID() {
			children[sp.Name] = true
		}
	}
	for _, want := range []string{"users.by_email", "password.verify", "sessions.create"} {
		if !children[want] {
			t.Errorf("no %s span under the use case; children: %v", want, children)
		}
	}
	secrets := []string{a.Password, a.Email, tk.AccessToken, tk.RefreshToken}
	for _, sp := range spans {
		for _, kv := range sp.Attributes {
			v := kv.Value.Emit()
			for _, secret := range secrets {
				if secret != "" && strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s holds a secret", sp.Name, kv.Key)
				}
			}
		}
	}
	// The access-log line of the login names its trace.
	traceID := request.SpanContext.TraceID().String()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Logs.String(), `"trace_id":"`+traceID+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line carries trace_id %s", traceID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}
