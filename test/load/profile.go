package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/google/pprof/profile"
)

// cpuProfiles gathers the server's CPU profiles over the timed windows of the request routes
// (-cpuprofile), to be merged into one: where the server's time goes under the matrix's load,
// for go tool pprof (or go build -pgo; docs/performance.md has what that bought). The login
// routes are left out: their time is argon2id's, which a profile of login shows at once, and
// their samples would bury the request path's.
type cpuProfiles struct {
	list []*profile.Profile
}

// take asks the server's pprof endpoint (base: http://host:port/debug/pprof/) for a CPU profile
// of about d, in the background; the returned function waits for it and keeps it.
func (c *cpuProfiles) take(ctx context.Context, base string, d time.Duration) func() error {
	seconds := max(1, int(d.Round(time.Second)/time.Second))
	type fetched struct {
		p   *profile.Profile
		err error
	}
	done := make(chan fetched, 1)
	go func() {
		p, err := fetchCPUProfile(ctx, base+"profile?seconds="+strconv.Itoa(seconds))
		done <- fetched{p, err}
	}()
	return func() error {
		f := <-done
		if f.err == nil {
			c.list = append(c.list, f.p)
		}
		return f.err
	}
}

func fetchCPUProfile(ctx context.Context, url string) (*profile.Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("CPU profile: GET %s: %s", url, res.Status)
	}
	p, err := profile.Parse(res.Body)
	if err != nil {
		return nil, fmt.Errorf("CPU profile: %w", err)
	}
	return p, nil
}

// write merges the profiles taken so far into one and writes it to path (gzipped protobuf, the
// format go tool pprof and go build -pgo read). It returns how many windows and samples it holds.
func (c *cpuProfiles) write(path string) (windows, samples int, err error) {
	if len(c.list) == 0 {
		return 0, 0, errors.New("no CPU profile was taken (-cpuprofile profiles the me and refresh routes only)")
	}
	merged, err := profile.Merge(c.list)
	if err != nil {
		return 0, 0, fmt.Errorf("merge the CPU profiles: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	if err := merged.Write(f); err != nil {
		f.Close()
		return 0, 0, err
	}
	return len(c.list), len(merged.Sample), f.Close()
}
