package main

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"
)

// A command name may hold spaces and parentheses: the fields are counted after its last ')'.
func TestParseStatCPU(t *testing.T) {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
	stat := "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 120 0 3 0 250 50 7 9 20 0 12 0 100 123456 789\n"
	got, ok := parseStatCPU(stat)
	if !ok || got != 3*time.Second {
		t.Fatalf("parseStatCPU = %v, %v; want 3s (250 + 50 ticks of 1/100 s), true", got, ok)
	}
	for _, bad := range []string{"", "4242 no parenthesis S 1", "4242 (short) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 u 50"} {
		if _, ok := parseStatCPU(bad); ok {
			t.Errorf("parseStatCPU(%q) read a CPU time", bad)
		}
	}
}

// procCPU reads this process's own CPU time, which grows while it computes.
func TestProcCPUGrows(t *testing.T) {
	t0, ok := procCPU(os.Getpid())
	if !ok {
		t.Fatal("cannot read /proc/self's CPU time")
	}
	sum := sha256.Sum256(nil)
	for deadline := time.Now().Add(10 * time.Second); ; { // a hang guard, not a speed
		for range 10000 {
			sum = sha256.Sum256(sum[:])
		}
		if t1, _ := procCPU(os.Getpid()); t1 >= t0+50*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time read from /proc did not grow past %v in 10 s of hashing", t0)
		}
	}
}

// The floor's p99 is folded like every other figure and printed beside the route's, for the
// bare Fiber floor only (the argon2id loop has no latency of its own).
func TestMediansAndPrintCarryFloorP99(t *testing.T) {
	run := func(p99, floorP99 float64) []cell {
		return []cell{
			{Store: "memory", Route: "me", Conns: 32, P99: p99, FloorKind: "bare Fiber", FloorRPS: 1000, FloorP99: floorP99},
			{Store: "memory", Route: "login", Conns: 4, P99: 100, FloorKind: "argon2id loop", FloorRPS: 50},
		}
	}
	cells := medians([][]cell{run(9, 8.25), run(12, 7.5), run(10, 6)})
	if cells[0].P99 != 10 || cells[0].FloorP99 != 7.5 {
		t.Fatalf("median p99 = %v (floor %v), want 10 (floor 7.5)", cells[0].P99, cells[0].FloorP99)
	}
	var out strings.Builder
	matrixReport{Runs: 3, Duration: 10, Cells: cells}.print(&out)
	if !strings.Contains(out.String(), "10.00 (7.50)") {
		t.Errorf("the table does not show the floor's p99 beside the route's:\n%s", out.String())
	}
	if strings.Contains(out.String(), "100.00 (") {
		t.Errorf("the login row shows a floor p99 the argon2id loop does not have:\n%s", out.String())
	}
}

// The per-run line on stderr and the table show a floor's figure the same way, and none where
// the floor has no such figure (a login cell's p99, say: the argon2id loop has no latency).
func TestWithFloor(t *testing.T) {
	for _, tc := range []struct {
		format   string
		v, floor float64
		want     string
	}{
		{"%.2f", 9.5, 7.25, "9.50 (7.25)"},
		{"%.1f", 120.04, 31.96, "120.0 (32.0)"},
		{"%.2f", 100, 0, "100.00"},
	} {
		if got := withFloor(tc.format, tc.v, tc.floor); got != tc.want {
			t.Errorf("withFloor(%q, %v, %v) = %q, want %q", tc.format, tc.v, tc.floor, got, tc.want)
		}
	}
}
