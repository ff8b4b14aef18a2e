// Package predict is the step that predicts a run's clean rows with the
// spec's model. In batch mode (the default) it starts a batch prediction job
// and polls it across invocations by name, never waiting on it. In online
// mode it holds the model (shared/holds), deploys it, streams the clean parts
// through online Predict calls in batches sized by AIMD (shared/batching),
// writes each batch's predictions in the backend's batch layout, and lets go
// of the model, undeploying it when it is the last holder. A run that fails
// in this step releases its hold in Finalize, so no model is left deployed.
package predict

import (
	"context"
	"fmt"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

func init() {
	functions.HTTP("predict", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// Counters the online mode records.
const (
	CounterCalls     = "prediction_calls"
	CounterBatchSize = "online_batch_size"
)

// Step is the predict step.
type Step struct {
	app   *app.App
	holds *holds.Store
	// afterSave, when set (by tests), is called after each checkpoint the
	// online mode saves mid-invocation, with the phase it saved.
	afterSave func(phase string)
}

// New returns the step.
func New(a *app.App) *Step {
	return &Step{app: a, holds: holds.NewStore(a.Clients.Storage, a.Config.StateBucket)}
}

// Name is the step's name.
func (s *Step) Name() string { return run.Predict }

// Checkpoint remembers the job or operation in flight (batch) or the phase
// and position (online).
type Checkpoint struct {
	Job       string `json:"job,omitempty"`
	State     string `json:"state,omitempty"`
	OutputDir string `json:"output_dir,omitempty"`

	// Phase is the online mode's phase: acquire, deploy, predict, release,
	// undeploy, done.
	Phase      string `json:"phase,omitempty"`
	DeployOp   string `json:"deploy_op,omitempty"`
	UndeployOp string `json:"undeploy_op,omitempty"`
	// Redeploys counts deployments redone because the model vanished.
	Redeploys int `json:"redeploys,omitempty"`
	Progress
}

// Key is the deterministic key of a run epoch's prediction job.
func Key(r *run.Run) string { return fmt.Sprintf("dropcast-%s-e%d", r.ID, r.Epoch) }

// Run predicts in the spec's mode.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	b, err := s.app.Predictor(ctx, x.Pipeline.Predict.Backend)
	if err != nil {
		return kernel.Outcome{}, err
	}
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	if x.Pipeline.Predict.Mode == spec.Online {
		return s.online(ctx, x, b, cp)
	}
	return s.batch(ctx, x, b, cp)
}

// workDir is the run epoch's gs:// directory in the work bucket.
func (s *Step) workDir(r *run.Run) string {
	return "gs://" + s.app.Config.WorkBucket + "/" + r.WorkPrefix()
}
