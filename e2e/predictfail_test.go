package e2e

import (
	"strings"
	"testing"

	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A model that does not exist fails the run at once: no retry can create it.
func TestUnknownModelFailsAtOnce(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Specs: specWith("models/"+sample.ModelID, "models/no-such-model")})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Predict || !strings.Contains(r.Error.Message, "no-such-model") {
		t.Fatalf("run %s %+v", r.Status, r.Error)
	}
	if a := r.StepState(run.Predict).Attempts; a != 1 {
		t.Fatalf("predict ran %d times for a permanent error", a)
	}
}

// A run whose every row the model service rejects fails, rather than
// succeeding with empty results that nobody is told about.
func TestEveryRowRejectedByTheModelFailsTheRun(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	s.Vertex.SetFaults(vertexemu.Faults{Seed: 1, PredictErrorRate: 1})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Postprocess || !strings.Contains(r.Error.Message, "rejected every row (474 errors)") {
		t.Fatalf("run %s %+v", r.Status, r.Error)
	}
}
