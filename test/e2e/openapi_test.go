package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	"go.uber.org/fx"
	"go.yaml.in/yaml/v3"

	"github.com/portcullis-auth/portcullis/adapters/httpapi"
)

// routeConfigs are the configurations whose routes together must be exactly the document's:
// routes that only some settings install (the seed-compatible routes) are served by one of them.
var routeConfigs = []map[string]string{
	{},
	{"PORTCULLIS_COMPAT": "seed"},
}

// TestOpenAPIDocumentValid: the embedded document is a valid OpenAPI 3.1 document (the
// validator checks it against the 3.1 schema), and /openapi.json and /openapi.yaml serve it.
func TestOpenAPIDocumentValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(httpapi.OpenAPIYAML())
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi version %q, want 3.1.x", v)
	}
	v, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		report(t, "document", errs)
	}
	if _, errs := doc.BuildV3Model(); errs != nil {
		t.Fatalf("build the model: %v", errs)
	}

	s := startServer(t, nil)
	c := s.apiClient()
	var fromJSON, fromYAML any
	r := c.do(http.MethodGet, "/openapi.json", nil).expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("/openapi.json Content-Type %q", ct)
	}
	r.decode(&fromJSON)
	r = c.do(http.MethodGet, "/openapi.yaml", nil).expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("/openapi.yaml Content-Type %q", ct)
	}
	if err := yaml.Unmarshal(r.Body, &fromYAML); err != nil {
		t.Fatalf("/openapi.yaml: %v", err)
	}
	// The two serve one document: the same value once decoded.
	yamlAsJSON, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var roundTrip any
	if err := json.Unmarshal(yamlAsJSON, &roundTrip); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON)
	b, _ := json.Marshal(roundTrip)
	if string(a) != string(b) {
		t.Errorf("/openapi.json and /openapi.yaml differ")
	}
}

// TestOpenAPIRoutes: every route Fiber serves (in any of routeConfigs) is an operation of the
// document, and every operation of the document is a route Fiber serves.
func TestOpenAPIRoutes(t *testing.T) {
	served := map[string]bool{}
	for _, env := range routeConfigs {
		var srv *httpapi.Server
		startServer(t, env, fx.Populate(&srv))
		for _, r := range srv.App().GetRoutes(true) {
			if r.Method == http.MethodHead || r.Method == "USE" {
				continue // Fiber adds HEAD beside every GET
			}
			served[r.Method+" "+r.Path] = true
		}
	}

	documented := map[string]bool{}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(httpapi.OpenAPIYAML(), &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{([^}/]+)\}`)
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	for path, item := range doc.Paths {
		fiberPath := param.ReplaceAllString(path, ":$1")
		for m := range item {
			if slices.Contains(methods, m) {
				documented[strings.ToUpper(m)+" "+fiberPath] = true
			}
		}
	}

	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not in adapters/httpapi/openapi.yaml: add it there", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in adapters/httpapi/openapi.yaml but no configuration serves it", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes seen: %v", len(served), served)
	}
}
