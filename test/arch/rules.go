package arch

import (
	"fmt"
	"strings"
)

// Layer is where a package sits in the hexagon.
type Layer int

// The layers, from the core outwards.
const (
	Outside     Layer = iota // not ours: standard library or third party
	Domain                   // domain/...
	Ports                    // ports/...
	Application              // application/...
	Config                   // config/...
	Adapter                  // adapters/<name>/...
	AdapterKit               // adapters/internal/...: code adapters share, implementing no port
	Cmd                      // cmd/...
	Test                     // test/...
	Unplaced                 // ours, but outside the fixed top-level layout
)

func (l Layer) String() string {
	return [...]string{"outside", "domain", "ports", "application", "config", "adapter", "adapter kit", "cmd", "test", "unplaced"}[l]
}

// Module describes the module under check: its path and how to tell a standard-library
// package from a third-party one.
type Module struct {
	Path     string
	Standard func(importPath string) bool
}

// rel returns path relative to the module and whether it belongs to the module.
func (m Module) rel(path string) (string, bool) {
	if path == m.Path {
		return "", true
	}
	if r, ok := strings.CutPrefix(path, m.Path+"/"); ok {
		return r, true
	}
	return "", false
}

// Place returns the layer of path and, for an adapter, the adapter's name.
func (m Module) Place(path string) (Layer, string) {
	r, ours := m.rel(path)
	if !ours {
		return Outside, ""
	}
	top, rest, _ := strings.Cut(r, "/")
	switch top {
	case "domain":
		return Domain, ""
	case "ports":
		return Ports, ""
	case "application":
		return Application, ""
	case "config":
		return Config, ""
	case "cmd":
		return Cmd, ""
	case "test":
		return Test, ""
	case "adapters":
		name, _, _ := strings.Cut(rest, "/")
		switch name {
		case "":
			return Unplaced, "" // a package directly in adapters/ belongs to no adapter
		case "internal":
			return AdapterKit, ""
		}
		return Adapter, name
	}
	return Unplaced, ""
}

// drivingAdapters are the inbound adapters: they turn outside requests into use-case calls, so
// they may import application (and nothing else of ours beyond domain and ports). Every other
// adapter is driven by the core through a port and never sees a use case.
var drivingAdapters = map[string]bool{"httpapi": true}

// isFx reports whether path is the fx dependency-injection framework (or dig, its engine).
func isFx(path string) bool {
	for _, p := range []string{"go.uber.org/fx", "go.uber.org/dig"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// Check returns one violation per import of pkg that breaks the dependency rule, each worded
// "pkg A imports B (rule)". imports are the package's own (non-test) imports.
func (m Module) Check(pkg string, imports []string) []string {
	layer, adapter := m.Place(pkg)
	var out []string
	report := func(imp, rule string) {
		out = append(out, fmt.Sprintf("pkg %s imports %s (%s)", pkg, imp, rule))
	}
	if layer == Unplaced {
		return []string{fmt.Sprintf("pkg %s is outside the fixed layout (domain, ports, application, adapters/<name>, adapters/internal, config, cmd, test)", pkg)}
	}
	for _, imp := range imports {
		if imp == "C" || m.Standard(imp) {
			continue // the standard library (and cgo) is open to every layer
		}
		to, toAdapter := m.Place(imp)
		switch layer {
		case Domain:
			if to != Domain {
				report(imp, "domain imports the standard library only")
			}
		case Ports:
			if to != Domain && to != Ports {
				report(imp, "ports imports domain and the standard library only")
			}
		case Application:
			if to != Domain && to != Ports && to != Application {
				report(imp, "application imports domain, ports and the standard library only")
			}
		case Config:
			switch {
			case to != Outside && to != Config:
				report(imp, "config imports nothing of ours")
			case isFx(imp):
				report(imp, "only cmd and adapters import fx")
			}
		case Adapter:
			switch {
			case to == Outside, to == Domain, to == Ports:
			case to == Adapter && toAdapter == adapter:
			case to == AdapterKit:
				// A rule two adapters share has one home there (adapters/internal/memo).
			case to == Application && drivingAdapters[adapter]:
				// A driving (inbound) adapter exists to call the use cases.
			case to == Adapter:
				report(imp, "an adapter never imports another adapter")
			default:
				report(imp, "an adapter imports only domain, ports, its own packages and third-party libraries, never "+to.String())
			}
		case AdapterKit:
			if to != Outside && to != Domain && to != Ports && to != AdapterKit {
				report(imp, "adapters/internal imports domain, ports and third-party libraries only")
			}
		case Cmd:
			if to == Test {
				report(imp, "cmd never imports test packages")
			}
		case Test:
			// Tests may import anything.
		}
	}
	return out
}
