package system_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/portcullis-auth/portcullis/adapters/system"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestClockIsUTCAndCurrent(t *testing.T) {
	before := time.Now()
	got := system.NewClock().Now()
	after := time.Now()
	if got.Location() != time.UTC {
		t.Fatalf("Now() location = %v, want UTC", got.Location())
	}
	if got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Fatalf("Now() = %v, not between %v and %v", got, before, after)
	}
}

func TestIDsAreUUIDv7UniqueAndOrdered(t *testing.T) {
	ids := system.NewIDs()
	const n = 1000
	seen := make(map[string]bool, n)
	prev := ""
	for i := range n {
		id := ids.NewID()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("NewID() = %q: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewID() = %q: version %d variant %v, want 7 RFC4122", id, u.Version(), u.Variant())
		}
		if len(id) != 36 || id != strings.ToLower(id) {
			t.Fatalf("NewID() = %q, want canonical lower-case form", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q after %d ids", id, i)
		}
		seen[id] = true
		// google/uuid makes v7 ids monotonic within a process, so string order is creation order.
		if id <= prev {
			t.Fatalf("NewID() = %q after %q, want increasing", id, prev)
		}
		prev = id
	}
}

func TestModuleProvidesPorts(t *testing.T) {
	var (
		clock ports.Clock
		ids   ports.IDSource
	)
	app := fxtest.New(t, system.Module, fx.NopLogger, fx.Populate(&clock, &ids))
	app.RequireStart().RequireStop()
	if clock == nil || ids == nil {
		t.Fatal("module did not provide ports.Clock and ports.IDSource")
	}
	if _, err := uuid.Parse(ids.NewID()); err != nil {
		t.Fatalf("provided IDSource: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name      string
		level     string
		format    string
		terminal  bool
		wantJSON  bool
		wantDebug bool
	}{
		{name: "json", level: "info", format: "json", terminal: true, wantJSON: true},
		{name: "text", level: "info", format: "text"},
		{name: "auto on terminal is text", level: "info", format: "auto", terminal: true},
		{name: "auto off terminal is json", level: "info", format: "auto", wantJSON: true},
		{name: "debug level", level: "debug", format: "json", wantJSON: true, wantDebug: true},
		{name: "warn level hides info", level: "warn", format: "json", wantJSON: true},
		{name: "unknown level falls back to info", level: "loud", format: "json", wantJSON: true},
		{name: "unknown format falls back to json", level: "info", format: "xml", terminal: true, wantJSON: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := system.NewLogger(tt.level, tt.format, &buf, tt.terminal)
			log.Debug("dbg")
			log.Info("hello", "k", "v")
			log.Warn("careful")
			out := buf.String()
			if got := strings.Contains(out, "dbg"); got != tt.wantDebug {
				t.Errorf("debug line present = %v, want %v:\n%s", got, tt.wantDebug, out)
			}
			if got, want := strings.Contains(out, "hello"), tt.level != "warn"; got != want {
				t.Errorf("info line present = %v, want %v:\n%s", got, want, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			last := lines[len(lines)-1]
			var m map[string]any
			isJSON := json.Unmarshal([]byte(last), &m) == nil
			if isJSON != tt.wantJSON {
				t.Fatalf("JSON output = %v, want %v: %q", isJSON, tt.wantJSON, last)
			}
			if !strings.Contains(last, "careful") {
				t.Fatalf("last line %q is not the warning", last)
			}
		})
	}
}
