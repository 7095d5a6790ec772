package fault

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// TestLoginsBeyondTheHashQueueGet503WithRetryAfter: a burst of logins larger than the hashing
// slots (one per core) plus the password queue (PORTCULLIS_PASSWORD_QUEUE, 1 here) is not left
// to wait until the clients time out: the logins that find the queue full are answered at once
// with 503 store_unavailable and Retry-After (no token, no cookie), the others log in, and once
// the burst is over a login goes through again.
func TestLoginsBeyondTheHashQueueGet503WithRetryAfter(t *testing.T) {
	s := startInProcess(t, map[string]string{"PORTCULLIS_SESSION_STORE": "memory", "PORTCULLIS_RATE_LIMITS": "off",
		"PORTCULLIS_PASSWORD_QUEUE": "1", "PORTCULLIS_ARGON2_TIME": "4"})
	registerAndLogin(t, s.base, "burst@example.com")
	body, _ := json.Marshal(map[string]string{"email": "burst@example.com", "password": outagePassword})

	// Every login is sent at once: far more than the slots and the queue can hold while each
	// argon2id check takes tens of milliseconds.
	n := 4*runtime.NumCPU() + 8
	replies := make([]reply, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			req, err := http.NewRequest("POST", s.base+"/api/auth/login", bytes.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := outageClient.Do(req)
			if err != nil {
				errs[i] = err // a timeout among them: the queue did not bound the wait
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			replies[i], errs[i] = reply{status: resp.StatusCode, header: resp.Header, body: b}, err
		})
	}
	close(start)
	wg.Wait()

	counts := map[int]int{}
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatalf("login %d of the burst: %v", i, errs[i])
		}
		counts[r.status]++
		switch r.status {
		case 200:
			if r.json()["access_token"] == nil {
				t.Fatalf("login %d: 200 without a token: %s", i, r.body)
			}
		case 503:
			expect503(t, "login "+strconv.Itoa(i)+" beyond the queue", r)
		default:
			t.Fatalf("login %d of the burst: %d %s, want 200, or 503 beyond the queue", i, r.status, r.body)
		}
	}
	t.Logf("%d concurrent logins with %d hashing slots and a queue of 1: %v", n, runtime.NumCPU(), counts)
	if counts[503] == 0 || counts[200] == 0 {
		t.Fatalf("answers by status %v: want some logins through and the rest refused with 503", counts)
	}
	if r := call(t, "POST", s.base+"/api/auth/login", map[string]string{"email": "burst@example.com", "password": outagePassword}); r.status != 200 {
		t.Fatalf("login after the burst: %d %s", r.status, r.body)
	}
}
