// Package logging builds log/slog JSON loggers in Cloud Logging's structured
// format: severity, message, timestamp, and the request's trace.
package logging

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// New returns a JSON logger writing Cloud Logging field names to w.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				return slog.String("severity", severity(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "message"
			case slog.TimeKey:
				a.Key = "timestamp"
			}
			return a
		},
	}))
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// FromRequest returns log annotated with the request's trace
// (projects/PROJECT/traces/ID), when the request carries one, so Cloud Logging
// groups a request's lines.
func FromRequest(log *slog.Logger, req *http.Request, project string) *slog.Logger {
	h := req.Header.Get("X-Cloud-Trace-Context")
	if h == "" {
		if tp := req.Header.Get("traceparent"); tp != "" {
			if parts := strings.Split(tp, "-"); len(parts) == 4 {
				h = parts[1]
			}
		}
	}
	trace, _, _ := strings.Cut(h, "/")
	if trace == "" {
		return log
	}
	return log.With("logging.googleapis.com/trace", "projects/"+project+"/traces/"+trace)
}
