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
	type docOp struct{ path, anchor, route string } // route: the address Redoc turns anchor into
	byTag := map[string][]docOp{}                   // tag → its operations
	operations := 0
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if !slices.Contains([]string{"get", "put", "post", "patch", "delete"}, method) {
				continue
			}
			var op struct {
				Tags        []string
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s %s has no tag, so no section of the page shows it", method, path)
			}
			for _, tag := range op.Tags {
				byTag[tag] = append(byTag[tag], docOp{path: path, anchor: "#tag/" + tag + "/operation/" + op.OperationID,
					route: strings.ToLower("#/" + tag + "/" + op.OperationID)})
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
	// The overview has rendered once Redoc offers the document for download; what shows below it
	// depends on the description's length and the window, so each operation is opened below.
	tab.WaitFor(`document.body && document.body.textContent.includes("Download OpenAPI description")`)
	tab.ScreenshotView("docs-1-api-reference")
	shown := 0
	for _, tag := range doc.Tags {
		for _, op := range byTag[tag.Name] {
			// The page renders a section when it is opened, as its menu does; wait (bounded)
			// until the operation's path is on the page. Redoc 3's router turns the anchor into
			// its own address (#/<tag>/<operation>, lower case) a moment later. Under load two
			// things have been seen to go wrong while it is still settling the previous one: it
			// answers with its own "No page at this address" and does not look again, or its
			// late rewrite of the previous anchor lands over this one, leaving the address on the
			// previous operation. Open the section once more then, as a reader clicks the menu
			// entry again (at most once a second); an address on this operation is left alone
			// however long it takes to render. Once shown, wait until the address has stopped
			// changing (300 ms) with the path still on the page, so that no rewrite of this anchor is
			// still pending when the next operation is opened.
			ok := testenv.Eval[bool](tab, `new Promise(done => { const want = `+jsString(op.anchor)+`, own = `+jsString(op.route)+`;
				const t0 = Date.now(), all = () => document.body.textContent.includes(`+jsString(op.path)+`);
				const here = () => { const h = decodeURIComponent(location.hash).toLowerCase(); return h === want.toLowerCase() || h === own; };
				let opened = t0, hash = location.hash, still = t0;
				const tick = () => {
					if (location.hash !== hash) { hash = location.hash; still = Date.now(); }
					if (all() && Date.now() - still > 300) return done(true);
					if (Date.now() - t0 > 20000) return done(all());
					const lost = document.body.textContent.includes("No page at this address") || !here();
					if (lost && Date.now() - opened > 1000) {
						opened = Date.now();
						location.hash = "#";
						setTimeout(() => { location.hash = want; }, 100);
					}
					setTimeout(tick, 50);
				};
				location.hash = want; tick(); })`)
			if !ok {
				t.Errorf("/docs%s does not show %s (address %s)", op.anchor, op.path,
					testenv.Eval[string](tab, `decodeURIComponent(location.hash)`))
				tab.ScreenshotView("docs-missing-" + strings.TrimPrefix(op.anchor, "#tag/"))
				continue
			}
			shown++
		}
		if tag.Name == "seed" {
			tab.ScreenshotView("docs-2-seed-section")
		}
	}
	t.Logf("/docs shows %d of %d operations, in %d tags", shown, operations, len(doc.Tags))
}
