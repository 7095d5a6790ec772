package testenv

import (
	"testing"
	"time"
)

// WaitUntil polls cond every 5 ms until it holds, and fails the test naming what it waited for
// when it has not after 10 s (a bound against a hang, not a measure of speed).
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
