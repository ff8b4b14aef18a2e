package sweep_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/localstack"
)

// TestConformanceSchedulerAck delivers the documented Cloud Scheduler request
// to the sweep: it answers 2xx (the only answer Cloud Scheduler counts as
// done) with its report.
func TestConformanceSchedulerAck(t *testing.T) {
	f := conformance.Load(t, "scheduler-ack")
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(f.MustFile(t, "sweep-request.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	req.RequestURI = ""
	s, err := localstack.Start(context.Background(), localstack.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	w := httptest.NewRecorder()
	sweep.New(s.App).ServeHTTP(w, req.WithContext(t.Context()))
	if w.Code/100 != 2 {
		t.Fatalf("sweep answered %d: %s", w.Code, w.Body)
	}
	var rep sweep.Report
	if err := json.NewDecoder(w.Body).Decode(&rep); err != nil {
		t.Fatalf("report: %v", err)
	}
}
