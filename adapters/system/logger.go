package system

import (
	"io"
	"log/slog"
	"strings"
)

// NewLogger builds the process logger writing to w. level is debug, info, warn or error; format
// is json, text, or auto, which means text when isTerminal and JSON otherwise. The caller (cmd)
// decides isTerminal, e.g. with golang.org/x/term.IsTerminal on the output's file descriptor.
// config validates level and format before this is called; should an unknown value get through
// anyway, the logger falls back to info and JSON rather than failing start-up over logging.
func NewLogger(level, format string, w io.Writer, isTerminal bool) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	text := false
	switch strings.ToLower(format) {
	case "text":
		text = true
	case "auto", "":
		text = isTerminal
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
