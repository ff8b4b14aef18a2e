package trigger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dropcast/dropcast/functions/trigger"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/sample"
)

const morning = `
schedules:
  - name: morning
    cron: "0 6 * * *"
    time_zone: UTC
    query: "SELECT * FROM sales.purchases WHERE _PARTITIONDATE = '{date}'"
`

// schedulerRequest reads a Cloud Scheduler request from a fixture, ready to
// serve.
func schedulerRequest(t *testing.T, data []byte) *http.Request {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture has no Content-Length (Cloud Scheduler computes it): the
	// body is what follows the headers.
	body, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.TrimSpace(body)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	req.RequestURI = ""
	return req.WithContext(t.Context())
}

// TestConformanceSchedulerAck delivers the documented Cloud Scheduler request
// to the trigger twice (an attempt and its retry): Cloud Scheduler counts
// only a 2xx as done, and both deliveries name one run.
func TestConformanceSchedulerAck(t *testing.T) {
	conformance.Load(t, "scheduler-ack")
	doc := conformance.Load(t, "scheduler-schedule-time").MustFile(t, "request.txt")
	s, err := localstack.Start(context.Background(), localstack.Options{
		Specs: map[string][]byte{sample.SpecName: append(bytes.Clone(sample.Spec), morning...)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	var ids []string
	for range 2 {
		w := httptest.NewRecorder()
		trigger.New(s.App).ServeHTTP(w, schedulerRequest(t, doc))
		if w.Code/100 != 2 {
			t.Fatalf("trigger answered %d: %s", w.Code, w.Body)
		}
		var out trigger.Response
		if err := json.NewDecoder(w.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.RunID)
	}
	if ids[0] != ids[1] {
		t.Errorf("an attempt and its retry started runs %s and %s", ids[0], ids[1])
	}
}
