// Package system adapts the operating system to the ports: the wall clock (ports.Clock), time-
// ordered identifiers (ports.IDSource, UUIDv7) and the process logger. It is an adapter like any
// other: cmd/portcullis composes its Module; the core only sees the ports.
package system
