package sweep

import (
	"bytes"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/conformance"
)

// TestConformanceAttemptDeadline: one sweep's budget fits within the
// documented bounds of a Cloud Scheduler attempt deadline, and within the
// step timeout the job's attempt_deadline is set to (infra/messaging.tf).
func TestConformanceAttemptDeadline(t *testing.T) {
	f := conformance.Load(t, "scheduler-attempt-deadline")
	b := map[string]time.Duration{}
	for line := range bytes.Lines(f.MustFile(t, "bounds.txt")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		d, err := time.ParseDuration(string(bytes.TrimSpace(v)))
		if err != nil {
			t.Fatal(err)
		}
		b[string(bytes.TrimSpace(k))] = d
	}
	c := config.Default()
	s := New(&app.App{Config: c})
	if s.Budget <= 0 || s.Budget >= b["max"] || s.Budget >= c.StepTimeout {
		t.Errorf("sweep budget %v, want within (0, min(%v, step timeout %v))", s.Budget, b["max"], c.StepTimeout)
	}
	if c.StepTimeout < b["min"] || c.StepTimeout > b["max"] {
		t.Errorf("step timeout %v (the job's attempt_deadline) outside [%v, %v]", c.StepTimeout, b["min"], b["max"])
	}
}
