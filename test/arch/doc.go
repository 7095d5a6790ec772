// Package arch holds the test that enforces the dependency rule of docs/architecture.md: imports
// point inward only. It lists every package of the module with `go list` and checks each
// package's imports (those of its non-test files) against the rule of its layer.
package arch
