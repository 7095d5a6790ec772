package testenv

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser starts the harness's Chromium, opens a page by a .test name that resolves to
// loopback, reads it, checks that a name outside .test does not resolve, and takes a
// screenshot.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>harness</title><h1 id="h">Hello from ` + r.Host + `</h1>`))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	b := NewBrowser(t)
	tab := b.Tab(t)
	url := "http://page.portcullis.test:" + port + "/"
	tab.Do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("h")))
	if got := Run(tab, chromedp.Text(chromedp.ID("h"))); got != "Hello from page.portcullis.test:"+port {
		t.Fatalf("heading = %q", got)
	}
	// Only loopback: a public name fails to resolve in the browser.
	outcome := Eval[string](tab, `fetch("http://example.com/", {mode: "no-cors"}).then(() => "reached", e => "failed: " + e.message)`)
	if !strings.HasPrefix(outcome, "failed") {
		t.Fatalf("fetch of example.com: %s; want a failure", outcome)
	}
	second := b.NewTab(t)
	second.Do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.ID("h")))
	if title := Run(second, chromedp.Title()); title != "harness" {
		t.Fatalf("second tab title = %q", title)
	}
	path := tab.Screenshot("harness page")
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot %s: %v", path, err)
	}
}

// TestChromiumPathMissing: with the variable naming a binary that does not exist, the harness
// fails the test (never silently skips it).
func TestChromiumPathMissing(t *testing.T) {
	t.Setenv(ChromiumVar, "/nonexistent/chromium")
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		ChromiumPath(ft)
	}()
	if !ft.failed {
		t.Fatal("ChromiumPath with a missing binary did not fail")
	}
}

// fatalRecorder records a Fatalf instead of ending the test (the call panics to stop the
// caller, as runtime.Goexit would).
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}

func (f *fatalRecorder) Helper() {}
