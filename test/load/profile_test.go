package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// Two CPU profiles of this process, taken through net/http/pprof's handler as the server serves
// it, merge into one file that reads back as a CPU profile covering both windows and holding the
// work done in them.
func TestCPUProfilesMergeIntoOneFile(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var stop atomic.Bool
	busy := make(chan struct{})
	go func() { // work for the profiles to see
		defer close(busy)
		sum := sha256.Sum256(nil)
		for !stop.Load() {
			sum = sha256.Sum256(sum[:])
		}
	}()
	defer func() { stop.Store(true); <-busy }()

	var c cpuProfiles
	ctx := context.Background()
	for range 2 {
		if err := c.take(ctx, srv.URL+"/debug/pprof/", time.Second)(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "server.pprof")
	windows, samples, err := c.write(path)
	if err != nil {
		t.Fatal(err)
	}
	if windows != 2 || samples == 0 {
		t.Fatalf("write = %d windows, %d samples; want 2 and some", windows, samples)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("the written file is not a profile: %v", err)
	}
	if st := p.SampleType; len(st) == 0 || st[len(st)-1].Type != "cpu" {
		t.Errorf("sample types %v, want cpu last", st)
	}
	if d := time.Duration(p.DurationNanos); d < 1900*time.Millisecond {
		t.Errorf("the merged profile covers %v, want the two windows of 1 s", d)
	}
	sawHash := false
	for _, s := range p.Sample {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function != nil && line.Function.Name == "crypto/sha256.Sum256" {
					sawHash = true
				}
			}
		}
	}
	if !sawHash {
		t.Error("the merged profile does not hold the busy loop's crypto/sha256.Sum256")
	}
}

// A server that answers no profile fails the window, and nothing taken writes nothing.
func TestCPUProfilesFailures(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	var c cpuProfiles
	if err := c.take(context.Background(), srv.URL+"/debug/pprof/", time.Second)(); err == nil {
		t.Error("a 404 from the pprof endpoint was taken as a profile")
	}
	path := filepath.Join(t.TempDir(), "server.pprof")
	if _, _, err := c.write(path); err == nil {
		t.Error("write with no profile taken succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("write with no profile taken left a file: %v", err)
	}
}
