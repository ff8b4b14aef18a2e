package predict

import (
	"context"
	"fmt"

	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
)

// batch starts the batch job once and polls it.
func (s *Step) batch(ctx context.Context, x *kernel.Exec, b predictor.Backend, cp Checkpoint) (kernel.Outcome, error) {
	work := s.workDir(x.Run)
	if cp.Job == "" {
		job, err := b.StartBatch(ctx, predictor.BatchRequest{
			Key:          Key(x.Run),
			Model:        x.Pipeline.Predict.Model,
			InputURIs:    []string{work + "clean/part-*"},
			OutputPrefix: work + "predictions",
		})
		if predictor.Permanent(err) {
			return kernel.Failed(fmt.Errorf("start batch prediction with %s: %w", x.Pipeline.Predict.Model, err)), nil
		}
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
