package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumVar names the Chromium (or Chrome) binary for browser tests. When it is unset the
// browser is looked up on PATH (BrowserNames); Debian's package is `apt-get install chromium`.
const ChromiumVar = "PORTCULLIS_TEST_CHROMIUM"

// BrowserNames are the executables looked up on PATH, in order, when ChromiumVar is unset.
var BrowserNames = []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"}

// Time bounds of the browser harness. A step that takes longer fails the test, so a hung
// browser or page costs at most this long, never the whole go test timeout.
const (
	BrowserStartTimeout = 60 * time.Second // start the process and open its first tab
	BrowserStepTimeout  = 30 * time.Second // one Do or Run on a tab
)

// loopbackRules are Chromium's --host-resolver-rules for every browser of the tests: names
// under .test (app.portcullis.test, evil.test, ...) resolve to 127.0.0.1, so a test can give
// the service and its pages distinct origins and sites on one machine, and every other name
// fails to resolve, so a page can reach nothing but loopback.
const loopbackRules = "MAP *.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"

// ChromiumPath returns the browser binary for tests: ChromiumVar, else the first of
// BrowserNames on PATH. When there is none it skips the test with a one-line reason, or fails
// it when PORTCULLIS_TEST_REQUIRE_SERVICES=1 (CI), as Lookup does for services.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(ChromiumVar); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s=%s: %v", ChromiumVar, p, err)
		}
		return p
	}
	for _, name := range BrowserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(RequireServicesVar) == "1" {
		t.Fatalf("no Chromium on PATH (looked for %v) and %s=1; apt-get install chromium", BrowserNames, RequireServicesVar)
	}
	t.Skipf("no Chromium on PATH and %s unset; apt-get install chromium to run the browser tests", ChromiumVar)
	return ""
}

// Browser is a headless Chromium started for one test. It resolves names under .test to
// 127.0.0.1 and nothing else (see loopbackRules); HTTPS upgrades are off, since the test
// servers speak plain HTTP. The process and its profile directory are removed when the test
// ends.
type Browser struct {
	t   testing.TB
	ctx context.Context // the first tab; every Tab is a child of it
}

// NewBrowser starts a headless Chromium for t (skipping or failing as ChromiumPath does when
// there is none) within BrowserStartTimeout. extra options are appended to chromedp's
// defaults and the harness's own flags, so they can override either (e.g. a window size).
func NewBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	path := ChromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("host-resolver-rules", loopbackRules),
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first Do binds the browser's life to the context it is given, so it gets ctx itself
	// (no timeout) and the bound is kept by waiting here; on a timeout the cleanup above kills
	// the process.
	if err := within(BrowserStartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return &Browser{t: t, ctx: ctx}
}

// Context is the browser's first tab, for chromedp calls the harness does not wrap (e.g.
// WebAuthn or network domains through chromedp.Call). Bound each call with a timeout derived
// from it.
func (b *Browser) Context() context.Context { return b.ctx }

// Tab is one tab of a Browser.
type Tab struct {
	t   testing.TB      // reports failures (may be a subtest)
	top testing.TB      // the browser's test: screenshots go to its artifact directory
	ctx context.Context // the tab's chromedp context
}

// Tab returns the browser's first tab, reporting to t (the browser's test or a subtest of it).
func (b *Browser) Tab(t testing.TB) *Tab { return &Tab{t: t, top: b.t, ctx: b.ctx} }

// NewTab opens another tab in the same browser (sharing its cookies), reporting to t; it is
// closed when t ends.
func (b *Browser) NewTab(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := within(BrowserStartTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &Tab{t: t, top: b.t, ctx: ctx}
}

// Context is the tab's chromedp context.
func (tb *Tab) Context() context.Context { return tb.ctx }

// Do runs actions on the tab in order within BrowserStepTimeout, failing the test on an error.
func (tb *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, BrowserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// Run runs one action on tab within BrowserStepTimeout and returns its value, failing the test
// on an error. (A function, not a method, because Go methods take no type parameters.)
func Run[T any](tab *Tab, action chromedp.Action[T]) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, BrowserStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		tab.t.Fatalf("browser: %v", err)
	}
	return v
}

// Eval evaluates the JavaScript expression js in the tab's page, awaiting it when it is a
// promise, and decodes its value into T.
func Eval[T any](tab *Tab, js string) T {
	tab.t.Helper()
	return Run(tab, chromedp.Evaluate[T](js, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
}

// Follow clicks the element with id (a link or a form's button) and waits for the page it
// leads to, returning that response's HTTP status.
func (tb *Tab) Follow(id string) int {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, BrowserStepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		tb.t.Fatalf("browser: follow #%s: %v", id, err)
	}
	return int(res.Status)
}

// WaitFor waits until the JavaScript expression js is truthy in the tab's page (polled every
// 50 ms, at most BrowserStepTimeout); on a timeout it fails the test, quoting the page's text.
func (tb *Tab) WaitFor(js string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, BrowserStepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(BrowserStepTimeout-time.Second)))
	if err != nil {
		text, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		tb.t.Fatalf("browser: waiting for %s: %v\npage text:\n%s", js, err, text)
	}
}

// WaitText waits until the text of the element with id contains want, and returns that text.
func (tb *Tab) WaitText(id, want string) string {
	tb.t.Helper()
	q, err := json.Marshal(id)
	if err != nil {
		tb.t.Fatal(err)
	}
	w, _ := json.Marshal(want)
	tb.WaitFor(fmt.Sprintf(`(document.getElementById(%s)?.textContent ?? "").includes(%s)`, q, w))
	return Eval[string](tb, fmt.Sprintf(`document.getElementById(%s).textContent`, q))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot writes a PNG of the tab's whole page to name.png in the artifact directory of the
// browser's test (t.ArtifactDir: kept under -outputdir when go test runs with -artifacts, else
// removed with the test), so one test's screenshots sit together; it logs the path and returns
// it.
func (tb *Tab) Screenshot(name string) string {
	tb.t.Helper()
	return tb.save(name, Run(tb, chromedp.FullScreenshot(100)))
}

// ScreenshotView is Screenshot of what the window shows, for long pages that render only the
// part in view (a full-page capture of them comes out blank below it).
func (tb *Tab) ScreenshotView(name string) string {
	tb.t.Helper()
	return tb.save(name, Run(tb, chromedp.CaptureScreenshot()))
}

// save writes png as name.png in the browser test's artifact directory and returns the path.
func (tb *Tab) save(name string, png []byte) string {
	tb.t.Helper()
	dir := artifactDir(tb.top)
	path := filepath.Join(dir, unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatalf("write screenshot: %v", err)
	}
	tb.t.Logf("screenshot: %s", path)
	return path
}

// artifactDir is t.ArtifactDir for the types that have it (T, B, F), else a temporary
// directory.
func artifactDir(t testing.TB) string {
	if a, ok := t.(interface{ ArtifactDir() string }); ok {
		return a.ArtifactDir()
	}
	return t.TempDir()
}

// within runs f and waits for it at most d; on a timeout it returns an error at once, leaving f
// to end when its context is cancelled by the caller's cleanup.
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("no answer within %s: %w", d, context.DeadlineExceeded)
	}
}
