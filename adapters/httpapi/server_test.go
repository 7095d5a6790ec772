package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
)

// Limits that fasthttp enforces before any handler runs (413 on the body, 431 on the headers)
// end the connection, which app.Test reports as an error; these run over a real listener.

func startServer(t *testing.T, e *env) string {
	t.Helper()
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.srv.Stop(context.Background()) })
	return "http://" + e.srv.Addr().String()
}

func send(t *testing.T, r *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Response: resp, body: b}
}

func newReq(t *testing.T, method, url, body string, headers ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func TestC26_HugeAuthorizationHeader(t *testing.T) {
	t.Run("buffers given back", func(t *testing.T) { testHugeAuthorizationHeader(t, false) })
	t.Run("buffers kept", func(t *testing.T) { testHugeAuthorizationHeader(t, true) })
}

func testHugeAuthorizationHeader(t *testing.T, keepBuffers bool) {
	e := newEnv(t, func(c *httpapi.Config) { c.KeepConnBuffers = keepBuffers })
	base := startServer(t, e)
	r := send(t, newReq(t, "GET", base+"/api/users/me", "", "Authorization", "Bearer "+strings.Repeat("a", 64<<10)))
	expectProblem(t, r, 431, "headers_too_large")
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("431 lacks security headers: %v", r.Header)
	}
	// A million dots is cut off after the read buffer: a 431, or a reset when the server closes
	// the connection while the client is still writing. Either way the server stays up.
	resp, err := http.DefaultClient.Do(newReq(t, "GET", base+"/api/users/me", "", "Authorization", "Bearer "+strings.Repeat(".", 1<<20)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 431 {
			t.Fatalf("a million dots: %d", resp.StatusCode)
		}
	}
	if r := send(t, newReq(t, "GET", base+"/healthz", "")); r.StatusCode != 200 {
		t.Fatalf("healthz after the flood: %d", r.StatusCode)
	}
	// A token too long to be real but within the header buffer: 401 without verification.
	r = send(t, newReq(t, "GET", base+"/api/users/me", "", "Authorization", "Bearer "+strings.Repeat(".", 10<<10)))
	expectProblem(t, r, 401, "invalid_token")
}

func TestF44_BodyTooLarge(t *testing.T) {
	e := newEnv(t)
	base := startServer(t, e)
	big := `{"email":"` + strings.Repeat("a", 20<<10) + `","password":"x"}`
	r := send(t, newReq(t, "POST", base+"/api/auth/register", big))
	expectProblem(t, r, 413, "body_too_large")
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e := newEnv(t, func(c *httpapi.Config) { c.Addr = ln.Addr().String() })
	err = e.srv.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Start on a busy address = %v, want an error naming it", err)
	}
}

func TestH58_StopLetsInFlightRequestsFinish(t *testing.T) {
	e := newEnv(t)
	entered := make(chan struct{})
	e.srv.App().Get("/slow", func(c *fiber.Ctx) error {
		close(entered)
		time.Sleep(300 * time.Millisecond)
		return c.JSON(fiber.Map{"done": true})
	})
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + e.srv.Addr().String()

	var (
		wg   sync.WaitGroup
		got  response
		gerr error
	)
	wg.Go(func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			gerr = err
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got = response{Response: resp, body: b}
	})
	<-entered
	if err := e.srv.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	wg.Wait()
	if gerr != nil || got.StatusCode != 200 || !strings.Contains(string(got.body), "done") {
		t.Fatalf("in-flight request: %v %v", gerr, got.Response)
	}
	// The listener is closed.
	if resp, err := http.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}

// idleConnGrowth opens conns connections to the server of e, sends one request on each, keeps
// them open and idle, and returns how much the heap in use grew.
func idleConnGrowth(t *testing.T, e *env, conns int) int64 {
	t.Helper()
	base := startServer(t, e)
	addr := strings.TrimPrefix(base, "http://")
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // twice: a pooled buffer survives one collection in sync.Pool's victim cache
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: portcullis\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("healthz on a kept-alive connection: %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	grown := int64(heap()) - int64(before)
	t.Logf("heap in use grew by %d kB with %d idle kept-alive connections", grown>>10, conns)
	return grown
}

// TestIdleKeepAliveConnectionsHoldNoBuffers: a kept-alive connection between requests holds
// no read buffer (96 KiB each, to take in SECURITY C26's oversized headers whole), so that idle
// or slow clients do not pin memory: 64 idle connections after one request each leave the heap
// well under one buffer per connection (measured: 120 kB, and 6.8 MB when they keep them).
func TestIdleKeepAliveConnectionsHoldNoBuffers(t *testing.T) {
	const conns = 64
	grown := idleConnGrowth(t, newEnv(t), conns)
	if limit := int64(conns * 96 << 10 / 4); grown > limit {
		t.Errorf("heap grew by %d kB with %d idle connections, want under %d kB: idle connections keep their buffers",
			grown>>10, conns, limit>>10)
	}
}

// TestKeepConnBuffers: with KeepConnBuffers each kept-alive connection keeps its read buffer
// while idle, which is what the setting trades for a read(2) less per request.
func TestKeepConnBuffers(t *testing.T) {
	const conns = 64
	grown := idleConnGrowth(t, newEnv(t, func(c *httpapi.Config) { c.KeepConnBuffers = true }), conns)
	if least := int64(conns * 96 << 10 * 3 / 4); grown < least {
		t.Errorf("heap grew by %d kB with %d idle connections keeping their buffers, want at least %d kB",
			grown>>10, conns, least>>10)
	}
}
