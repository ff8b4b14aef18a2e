package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
)

func TestCloudLoggingFieldsAndTrace(t *testing.T) {
	var buf bytes.Buffer
	req := httptest.NewRequest("POST", "/load", nil)
	req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b120001000/1;o=1")
	FromRequest(New(&buf, slog.LevelInfo), req, "proj").Warn("step failed", "run_id", "r1")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"severity": "WARNING", "message": "step failed", "run_id": "r1",
		"logging.googleapis.com/trace": "projects/proj/traces/105445aa7843bc8bf206b120001000",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["timestamp"]; !ok {
		t.Error("no timestamp field")
	}
	buf.Reset()
	req = httptest.NewRequest("POST", "/load", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	FromRequest(New(&buf, slog.LevelInfo), req, "proj").Error("x")
	json.Unmarshal(buf.Bytes(), &line)
	if line["severity"] != "ERROR" || line["logging.googleapis.com/trace"] != "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceparent line %v", line)
	}
	buf.Reset()
	New(&buf, slog.LevelInfo).Debug("hidden")
	if buf.Len() != 0 {
		t.Error("a debug line passed an info logger")
	}
}
