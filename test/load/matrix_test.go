package main

import (
	"crypto/sha256"
	"os"
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
