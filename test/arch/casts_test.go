package arch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// loadTyped loads the production packages (no test files) under dir with their syntax and types.
func loadTyped(t *testing.T, dir string) []*packages.Package {
	t.Helper()
	cfg := &packages.Config{
		Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:  dir,
	}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatalf("load packages under %s: %v", dir, err)
	}
	for _, p := range pkgs {
		for _, e := range p.Errors {
			t.Errorf("%s: %v", p.PkgPath, e)
		}
	}
	return pkgs
}

// TestNoCastFromPortToAdapter fails on every place in production code that recovers an
// adapter's concrete type from a port value.
func TestNoCastFromPortToAdapter(t *testing.T) {
	root, modPath := moduleRoot(t)
	pkgs := loadTyped(t, root)
	if len(pkgs) == 0 {
		t.Fatalf("no packages under %s", root)
	}
	for _, v := range (Module{Path: modPath}).Casts(pkgs) {
		t.Error(v)
	}
}

// TestCastsCatchesViolations proves the cast rule can fail, on a small module written for it:
// assertions and type-switch cases from a port to an adapter type are reported; assertions
// from a port to another interface, from a non-port interface, and casts in test files are not.
func TestCastsCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/gate\n\ngo 1.22\n",
		"ports/ports.go": `package ports
type Store interface{ Get() string }
type Pinger interface{ Ping() error }
`,
		"adapters/mem/mem.go": `package mem
type Store struct{}
func (*Store) Get() string { return "" }
func (*Store) Ping() error { return nil }
type Value struct{}
func (Value) Get() string { return "" }
`,
		"cmd/gate/main.go": `package main
import (
	"example.com/gate/adapters/mem"
	"example.com/gate/ports"
)
func main() {
	var s ports.Store = &mem.Store{}
	_ = s.(*mem.Store)            // violation 1
	if v, ok := s.(mem.Value); ok { // violation 2
		_ = v
	}
	switch x := s.(type) {
	case *mem.Store: // violation 3
		_ = x
	case ports.Pinger: // another port: fine
	}
	_, _ = s.(ports.Pinger) // fine
	var a any = &mem.Store{}
	_ = a.(*mem.Store) // not a port: fine
}
`,
		"cmd/gate/main_test.go": `package main
import (
	"testing"
	"example.com/gate/adapters/mem"
	"example.com/gate/ports"
)
func TestX(t *testing.T) { var s ports.Store = &mem.Store{}; _ = s.(*mem.Store) }
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := (Module{Path: "example.com/gate"}).Casts(loadTyped(t, dir))
	slices.Sort(got)
	want := []string{"main.go:8:", "main.go:9:", "main.go:12:"}
	if len(got) != len(want) {
		t.Fatalf("Casts = %q, want %d violations", got, len(want))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) && strings.Contains(g, "adapter mem") }) {
			t.Errorf("no violation at %s in %q", w, got)
		}
	}
}
