package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/portcullis-auth/portcullis/test/testenv"
)

// TestBrowserDocs opens /docs in Chromium and checks that the page renders the operations of
// the served OpenAPI document: it opens each tag's section (#tag/<name>, as the page's menu
// does) and finds every operation of that tag, by path, on the page. Screenshots of the page
// and of one section go to the artifact directory.
func TestBrowserDocs(t *testing.T) {
	s := startServer(t, nil)
	var doc struct {
		Tags  []struct{ Name string }               `json:"tags"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	s.apiClient().do("GET", "/openapi.json", nil).expect(http.StatusOK).decode(&doc)
	byTag := map[string][]string{} // tag → paths of its operations
	operations := 0
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if !slices.Contains([]string{"get", "put", "post", "patch", "delete"}, method) {
				continue
			}
			var op struct{ Tags []string }
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s %s has no tag, so no section of the page shows it", method, path)
			}
			for _, tag := range op.Tags {
				if !slices.Contains(byTag[tag], path) {
					byTag[tag] = append(byTag[tag], path)
				}
			}
			operations++
		}
	}
	if operations < 20 {
		t.Fatalf("the OpenAPI document has only %d operations", operations)
	}

	b := testenv.NewBrowser(t)
	tab := b.Tab(t)
	tab.Do(chromedp.Navigate(s.URL + "/docs"))
	tab.WaitFor(`document.body && document.body.textContent.includes("/api/auth/login")`)
	tab.ScreenshotView("docs-1-api-reference")
	shown := 0
	for _, tag := range doc.Tags {
		paths := byTag[tag.Name]
		want, _ := json.Marshal(paths)
		// The page renders a section when it is opened; wait (bounded) until its operations are
		// on the page, then name whatever is missing.
		ok := testenv.Eval[bool](tab, `new Promise(done => { location.hash = `+jsString("#tag/"+tag.Name)+`;
			const want = `+string(want)+`, t0 = Date.now();
			const all = () => want.every(p => document.body.textContent.includes(p));
			const tick = () => (all() || Date.now() - t0 > 15000) ? done(all()) : setTimeout(tick, 100); tick(); })`)
		if !ok {
			text := testenv.Eval[string](tab, `document.body.textContent`)
			for _, p := range paths {
				if !strings.Contains(text, p) {
					t.Errorf("/docs#tag/%s does not show %s", tag.Name, p)
				}
			}
			continue
		}
		shown += len(paths)
		if tag.Name == "seed" {
			tab.ScreenshotView("docs-2-seed-section")
		}
	}
	t.Logf("/docs shows the operations of %d tags (%d paths of %d operations)", len(doc.Tags), shown, operations)
}
