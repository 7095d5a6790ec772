package fault

import (
	"slices"
	"testing"
	"time"
)

// TestB10_UnknownAccountCostsTheSameAsAKnownOne: logins for an unknown e-mail do the hashing work
// of a known account's wrong password (a dummy hash is checked), so their response times do not
// tell which accounts exist. Known and unknown logins alternate, so that load on the machine
// falls on both alike; the medians are printed and must be within 25% of each other (an
// unknown account answered without hashing would be over ten times faster).
func TestB10_UnknownAccountCostsTheSameAsAKnownOne(t *testing.T) {
	s := startInProcess(t, map[string]string{"PORTCULLIS_SESSION_STORE": "memory", "PORTCULLIS_RATE_LIMITS": "off"})
	registerAndLogin(t, s.base, "known@example.com")
	const n = 40
	var known, unknown []time.Duration
	for i := range n + 2 {
		k := call(t, "POST", s.base+"/api/auth/login", map[string]string{"email": "known@example.com", "password": "wrong password here"})
		u := call(t, "POST", s.base+"/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password here"})
		if k.status != 401 || u.status != 401 || k.json()["code"] != u.json()["code"] {
			t.Fatalf("known %d %s, unknown %d %s: want the same 401", k.status, k.body, u.status, u.body)
		}
		if i >= 2 { // the first rounds warm up (the dummy hash is computed on first use)
			known, unknown = append(known, k.took), append(unknown, u.took)
		}
	}
	mk, mu := median(known), median(unknown)
	ratio := float64(mu) / float64(mk)
	t.Logf("B10: median login time over %d each: known account (wrong password) %v, unknown account %v; unknown/known = %.2f",
		n, mk.Round(time.Microsecond), mu.Round(time.Microsecond), ratio)
	if ratio < 0.75 || ratio > 1.0/0.75 {
		t.Fatalf("unknown/known median ratio %.2f: the response time tells whether an account exists", ratio)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
