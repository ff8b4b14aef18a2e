// Package predict is the step that predicts a run's clean rows with the
// spec's model: a batch prediction job by default, polled across invocations
// by name and never waited on.
package predict

import (
	"context"
	"fmt"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.HTTP("predict", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// Step is the predict step.
type Step struct {
	app *app.App
}

// New returns the step.
func New(a *app.App) *Step { return &Step{app: a} }

// Name is the step's name.
func (s *Step) Name() string { return run.Predict }

// Checkpoint remembers the job or operation in flight.
type Checkpoint struct {
	Job       string `json:"job,omitempty"`
	State     string `json:"state,omitempty"`
	OutputDir string `json:"output_dir,omitempty"`
}

// Key is the deterministic key of a run epoch's prediction job.
func Key(r *run.Run) string { return fmt.Sprintf("dropcast-%s-e%d", r.ID, r.Epoch) }

// Run starts the batch job once and polls it.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	b, err := s.app.Predictor(ctx, x.Pipeline.Predict.Backend)
	if err != nil {
		return kernel.Outcome{}, err
	}
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	work := "gs://" + s.app.Config.WorkBucket + "/" + x.Run.WorkPrefix()
	if cp.Job == "" {
		job, err := b.StartBatch(ctx, predictor.BatchRequest{
			Key:          Key(x.Run),
			Model:        x.Pipeline.Predict.Model,
			InputURIs:    []string{work + "clean/part-*"},
			OutputPrefix: work + "predictions",
		})
		if err != nil {
			return kernel.Outcome{}, fmt.Errorf("start batch prediction: %w", err)
		}
		cp.Job = job
		x.SetOutput("prediction_job", job)
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	st, err := b.PollBatch(ctx, cp.Job)
	if err != nil {
		return kernel.Outcome{}, fmt.Errorf("poll batch prediction %s: %w", cp.Job, err)
	}
	cp.State = st.State
	if !st.Done {
		return kernel.PollLater(0, cp), nil
	}
	if st.Err != nil {
		return kernel.Failed(fmt.Errorf("batch prediction %s: %w", cp.Job, st.Err)), nil
	}
	cp.OutputDir = st.OutputDir
	x.SetOutput("predictions", st.OutputDir)
	return kernel.DoneWith(cp), nil
}
