package httpapi

import (
	"io"
	"log/slog"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkAccessLog measures the access-log line of a request: "off" is the same request with
// the line's level disabled (its floor, measured in the same run), "json" writes the line as the
// service does by default, to io.Discard so that only the line's making is measured.
func BenchmarkAccessLog(b *testing.B) {
	for _, bc := range []struct {
		name  string
		level slog.Level
	}{{"off", slog.LevelWarn}, {"json", slog.LevelInfo}} {
		b.Run(bc.name, func(b *testing.B) {
			s := &Server{log: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: bc.level}))}
			app := fiber.New()
			app.Use(s.withRequestID, s.accessLog)
			app.Get("/api/users/me", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
			h := app.Handler()
			var rc fasthttp.RequestCtx
			rc.Request.Header.SetMethod(fiber.MethodGet)
			rc.Request.SetRequestURI("/api/users/me")
			b.ReportAllocs()
			for b.Loop() {
				h(&rc)
				rc.Response.Reset()
			}
		})
	}
}
