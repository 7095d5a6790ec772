package main

import (
	"strings"
	"testing"
)

// TestMailCLI: an operator re-sends a verification mail (queued, shown by `mail list`),
// marks an address verified, and cannot retry what has not failed.
func TestMailCLI(t *testing.T) {
	backends(t, func(t *testing.T, env []string) {
		ok(t, env, "", "users", "create", "--email", "ada@example.com", "--password-file", writePassword(t, goodPassword))
		out := ok(t, env, "", "users", "resend-verification", "--email", "Ada@Example.com")
		if !strings.Contains(out, "queued a verification mail to ada@example.com") {
			t.Fatalf("resend-verification printed %q", out)
		}
		list := ok(t, env, "", "mail", "list")
		if !strings.Contains(list, "pending") || !strings.Contains(list, "verify_email") || !strings.Contains(list, "ada@example.com") {
			t.Fatalf("mail list:\n%s", list)
		}
		if strings.Contains(list, "token=") {
			t.Fatalf("mail list shows a link:\n%s", list)
		}
		if failed := ok(t, env, "", "mail", "list", "--failed"); strings.Contains(failed, "ada@example.com") {
			t.Fatalf("mail list --failed lists a pending message:\n%s", failed)
		}
		id := strings.Fields(strings.Split(strings.TrimSpace(list), "\n")[1])[0]
		fails(t, env, "", "no failed message with id", "mail", "retry", id)
		if out := ok(t, env, "", "users", "verify", "--email", "ada@example.com"); !strings.Contains(out, "verified ada@example.com") {
			t.Fatalf("users verify printed %q", out)
		}
		fails(t, env, "", "already verified", "users", "resend-verification", "--email", "ada@example.com")
	})
}
