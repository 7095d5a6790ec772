//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartPagesAreGivenBack: once started, the service holds far fewer of its executable's
// pages than the same binary started with PORTCULLIS_RELEASE_START_PAGES=false, and it still
// serves registration and login (code read again from the file as it is used).
func TestStartPagesAreGivenBack(t *testing.T) {
	resident := func(env ...string) (int64, string) {
		cmd, base, logs := serve(t, append(env, "PORTCULLIS_DATA_DIR="+t.TempDir(), "PORTCULLIS_LOG_LEVEL=debug")...)
		defer stop(t, cmd)
		// The start line comes after the pages are given back; /readyz answers before it, and
		// requests made before it would be counted as start-up.
		waitFor(t, logs, `"msg":"portcullis started"`, 30*time.Second)
		body := `{"email":"pages@example.com","password":"` + goodPassword + `"}`
		if code, b := call(t, "POST", base+"/api/auth/register", "", body); code != 201 {
			t.Fatalf("register: %d %s", code, b)
		}
		if code, b := call(t, "POST", base+"/api/auth/login", "", body); code != 200 {
			t.Fatalf("login: %d %s", code, b)
		}
		return rssFileKB(t, cmd.Process.Pid), logs.String()
	}
	kept, keptLogs := resident("PORTCULLIS_RELEASE_START_PAGES=false")
	given, givenLogs := resident()
	t.Logf("RssFile after start, register and login: %d kB given back, %d kB kept", given, kept)
	if given > kept*3/4 {
		t.Errorf("RssFile %d kB with the start-up pages given back, %d kB with them kept: want at most 3/4", given, kept)
	}
	if !strings.Contains(givenLogs, `"msg":"start-up pages given back"`) {
		t.Errorf("no debug line saying the pages were given back:\n%s", givenLogs)
	}
	if strings.Contains(keptLogs, "start-up pages") {
		t.Errorf("PORTCULLIS_RELEASE_START_PAGES=false still gave pages back:\n%s", keptLogs)
	}
}

// rssFileKB is the RssFile of process pid, in kB.
func rssFileKB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile")
	return 0
}
