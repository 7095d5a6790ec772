package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// listed is what `go list -json` says of one package.
type listed struct {
	ImportPath string
	Standard   bool
	DepOnly    bool
	Imports    []string
	Error      *struct{ Err string }
}

// moduleRoot returns the directory holding go.mod and the module path.
func moduleRoot(t *testing.T) (dir, path string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}\t{{.Path}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", stderrOf(err))
	}
	dir, path, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok || dir == "" || path == "" {
		t.Fatalf("go list -m printed %q", out)
	}
	return dir, path
}

// listPackages lists every package of the module and every dependency, with -e so that a
// package being written (or one that does not exist yet) does not stop the check.
func listPackages(t *testing.T, root string) []listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Standard,DepOnly,Imports,Error", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v", stderrOf(err))
	}
	var pkgs []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func stderrOf(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return errors.New(strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// TestDependencyRule fails on every import that points outward or sideways.
func TestDependencyRule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is not on PATH: the rule cannot be checked")
	}
	root, modPath := moduleRoot(t)
	pkgs := listPackages(t, root)

	standard := map[string]bool{}
	for _, p := range pkgs {
		if p.Standard {
			standard[p.ImportPath] = true
		}
	}
	m := Module{
		Path: modPath,
		Standard: func(path string) bool {
			if standard[path] {
				return true
			}
			// An import that failed to resolve is not in the list; a standard-library path
			// has no dot in its first element.
			first, _, _ := strings.Cut(path, "/")
			return !strings.Contains(first, ".") && !strings.HasPrefix(path, modPath)
		},
	}

	checked := 0
	var violations []string
	for _, p := range pkgs {
		if p.DepOnly || p.Standard {
			continue
		}
		if _, ours := m.rel(p.ImportPath); !ours {
			continue
		}
		if p.Error != nil {
			// The compiler reports broken packages; check whatever imports were read.
			t.Logf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		checked++
		violations = append(violations, m.Check(p.ImportPath, p.Imports)...)
	}
	if checked == 0 {
		t.Fatalf("go list found no packages of %s under %s", modPath, root)
	}
	slices.Sort(violations)
	for _, v := range violations {
		t.Error(v)
	}
	t.Logf("checked %d packages of %s", checked, modPath)
}

// TestCheckCatchesViolations proves that the rule can fail: fabricated import lists that break
// it are reported, and ones that keep it are not.
func TestCheckCatchesViolations(t *testing.T) {
	const mod = "example.com/gate"
	m := Module{
		Path: mod,
		Standard: func(p string) bool {
			first, _, _ := strings.Cut(p, "/")
			return !strings.Contains(first, ".")
		},
	}
	tests := []struct {
		name    string
		pkg     string
		imports []string
		want    []string // substrings, one per expected violation, in order
	}{
		{"domain with stdlib", mod + "/domain", []string{"errors", "time", "net/netip"}, nil},
		{"domain imports third party", mod + "/domain", []string{"time", "github.com/google/uuid"}, []string{"github.com/google/uuid (domain imports the standard library only)"}},
		{"domain imports ports", mod + "/domain", []string{mod + "/ports"}, []string{"(domain imports the standard library only)"}},
		{"domain imports fx", mod + "/domain", []string{"go.uber.org/fx"}, []string{"go.uber.org/fx"}},
		{"ports with domain", mod + "/ports", []string{"context", mod + "/domain"}, nil},
		{"ports imports application", mod + "/ports", []string{mod + "/application"}, []string{"ports imports domain"}},
		{"application with core", mod + "/application", []string{"context", mod + "/domain", mod + "/ports"}, nil},
		{"application imports adapter", mod + "/application", []string{mod + "/adapters/memstore"}, []string{"imports " + mod + "/adapters/memstore (application imports"}},
		{"application imports config", mod + "/application", []string{mod + "/config"}, []string{"application imports"}},
		{"application imports fx", mod + "/application", []string{"go.uber.org/fx"}, []string{"application imports"}},
		{"config with third party", mod + "/config", []string{"github.com/caarlos0/env/v11", "os"}, nil},
		{"config imports domain", mod + "/config", []string{mod + "/domain"}, []string{"config imports nothing of ours"}},
		{"config imports fx", mod + "/config", []string{"go.uber.org/fx"}, []string{"only cmd and adapters import fx"}},
		{"adapter allowed", mod + "/adapters/sqlstore", []string{"database/sql", "github.com/uptrace/bun", "go.uber.org/fx", mod + "/domain", mod + "/ports", mod + "/adapters/sqlstore/migrations"}, nil},
		{"adapter subpackage imports its parent", mod + "/adapters/sqlstore/migrations", []string{mod + "/adapters/sqlstore"}, nil},
		{"adapter imports another adapter", mod + "/adapters/redisstore", []string{mod + "/adapters/memstore"}, []string{"(an adapter never imports another adapter)"}},
		{"adapter imports another adapter's subpackage", mod + "/adapters/sqlstore/migrations", []string{mod + "/adapters/sqlite/x"}, []string{"another adapter"}},
		{"adapters share a kit package", mod + "/adapters/usercache", []string{mod + "/adapters/internal/memo"}, nil},
		{"kit imports an adapter", mod + "/adapters/internal/memo", []string{mod + "/adapters/sqlstore"}, []string{"adapters/internal imports domain, ports"}},
		{"kit imports application", mod + "/adapters/internal/memo", []string{mod + "/application"}, []string{"adapters/internal imports domain, ports"}},
		{"kit with the core and a library", mod + "/adapters/internal/memo", []string{mod + "/domain", mod + "/ports", "github.com/maypok86/otter/v2"}, nil},
		{"driven adapter imports application", mod + "/adapters/sqlstore", []string{mod + "/application"}, []string{"never application"}},
		{"driving adapter calls the use cases", mod + "/adapters/httpapi", []string{mod + "/application"}, nil},
		{"adapter imports config", mod + "/adapters/httpapi", []string{mod + "/config"}, []string{"never config"}},
		{"adapter imports cmd", mod + "/adapters/httpapi", []string{mod + "/cmd/portcullis"}, []string{"never cmd"}},
		{"cmd imports everything", mod + "/cmd/portcullis", []string{mod + "/config", mod + "/application", mod + "/adapters/httpapi", "go.uber.org/fx"}, nil},
		{"cmd imports test", mod + "/cmd/portcullis", []string{mod + "/test/testenv"}, []string{"cmd never imports test"}},
		{"test imports anything", mod + "/test/e2e", []string{mod + "/cmd/portcullis", mod + "/adapters/memstore", "go.uber.org/fx"}, nil},
		{"package outside the layout", mod + "/internal/util", []string{"fmt"}, []string{"outside the fixed layout"}},
		{"several at once", mod + "/domain", []string{"fmt", "go.uber.org/fx", mod + "/ports", "github.com/x/y"}, []string{"go.uber.org/fx", mod + "/ports", "github.com/x/y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Check(tt.pkg, tt.imports)
			if len(got) != len(tt.want) {
				t.Fatalf("Check(%s, %q) = %q, want %d violations", tt.pkg, tt.imports, got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], "pkg "+tt.pkg+" ") || !strings.Contains(got[i], w) {
					t.Errorf("violation %q, want one about %s containing %q", got[i], tt.pkg, w)
				}
			}
		})
	}
}

// TestPlace pins the layout the rule relies on.
func TestPlace(t *testing.T) {
	m := Module{Path: "example.com/gate", Standard: func(string) bool { return false }}
	tests := []struct {
		path    string
		layer   Layer
		adapter string
	}{
		{"example.com/gate/domain", Domain, ""},
		{"example.com/gate/ports", Ports, ""},
		{"example.com/gate/application", Application, ""},
		{"example.com/gate/config", Config, ""},
		{"example.com/gate/adapters/mail", Adapter, "mail"},
		{"example.com/gate/adapters/sqlstore/migrations", Adapter, "sqlstore"},
		{"example.com/gate/adapters", Unplaced, ""},
		{"example.com/gate/adapters/internal/memo", AdapterKit, ""},
		{"example.com/gate/cmd/portcullis", Cmd, ""},
		{"example.com/gate/test/contract", Test, ""},
		{"example.com/gate", Unplaced, ""},
		{"example.com/gatekeeper/domain", Outside, ""},
		{"github.com/google/uuid", Outside, ""},
	}
	for _, tt := range tests {
		layer, adapter := m.Place(tt.path)
		if layer != tt.layer || adapter != tt.adapter {
			t.Errorf("Place(%q) = %v %q, want %v %q", tt.path, layer, adapter, tt.layer, tt.adapter)
		}
	}
}
