package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a throttling limit written "N/period": N hits at once, refilled at N per period
// ("5/1m", "10/1h"). "0" (or "off") turns that one limit off.
type Rate struct {
	burst  int
	period time.Duration
}

// Burst is the number of hits at once (0: the limit is off).
func (r Rate) Burst() int { return r.burst }

// Period is how long the bucket takes to refill from empty.
func (r Rate) Period() time.Duration { return r.period }

// UnmarshalText parses "N/period".
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "0" || s == "off" {
		*r = Rate{}
		return nil
	}
	n, p, ok := strings.Cut(s, "/")
	burst, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || burst < 1 || burst > 1_000_000 {
		return fmt.Errorf("want N/period like 5/1m (N from 1 to 1000000), or 0 for no limit")
	}
	period, err := time.ParseDuration(strings.TrimSpace(p))
	if err != nil || period < time.Second || period > 7*24*time.Hour {
		return fmt.Errorf("want N/period like 5/1m with a period from 1s to 168h")
	}
	*r = Rate{burst: burst, period: period}
	return nil
}

// String writes the rate back as "N/period", or "0" when off.
func (r Rate) String() string {
	if r.burst == 0 {
		return "0"
	}
	return strconv.Itoa(r.burst) + "/" + r.period.String()
}
