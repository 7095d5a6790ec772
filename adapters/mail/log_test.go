package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/portcullis-auth/portcullis/adapters/mail"
	"github.com/portcullis-auth/portcullis/ports"
)

func TestLogWritesOneInfoLine(t *testing.T) {
	var buf bytes.Buffer
	m := mail.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	msg := ports.Mail{
		To:      "ada@example.com",
		Subject: "Verify your email",
		Text:    "Open http://localhost:8080/verify?token=abc\nto verify.",
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("log line is not JSON: %v", err)
	}
	want := map[string]string{
		"level": "INFO", "msg": "mail", "component": "mail",
		"to": msg.To, "subject": msg.Subject, "text": msg.Text,
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %q", k, rec[k], v)
		}
	}
}

func TestLogSendHonoursCancelledContext(t *testing.T) {
	var buf bytes.Buffer
	m := mail.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Send(ctx, ports.Mail{To: "a@example.com"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send on cancelled context = %v, want context.Canceled", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("cancelled Send logged %q", buf.String())
	}
}

func TestModuleProvidesMailer(t *testing.T) {
	var buf bytes.Buffer
	var mailer ports.Mailer
	app := fxtest.New(t,
		fx.NopLogger,
		fx.Supply(slog.New(slog.NewTextHandler(&buf, nil))),
		mail.Module,
		fx.Populate(&mailer),
	)
	app.RequireStart()
	defer app.RequireStop()
	if err := mailer.Send(context.Background(), ports.Mail{To: "b@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "to=b@example.com") {
		t.Fatalf("provided mailer did not log the message: %q", buf.String())
	}
}
