package predict

import (
	"context"
	"fmt"

	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/spec"
)

// Finalize runs once when a run fails in this step. In online mode it
// releases the run's hold and, as the last holder, starts the undeploy and
// records its operation in the hold record (whoever next looks at the
// record — a run acquiring the model, or the sweeper — finishes it). If
// this misses (the deployment still running, say), the sweeper undeploys
// the model once it sees the run has ended.
func (s *Step) Finalize(ctx context.Context, x *kernel.Exec) error {
	if x.Pipeline == nil || x.Pipeline.Predict.Mode != spec.Online {
		return nil
	}
	p := x.Pipeline.Predict
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return err
	}
	holder := holds.Holder(x.Run.ID, x.Run.Epoch)
	last, err := s.holds.Release(ctx, p.Backend, p.Model, holder)
	if err != nil || !last {
		return err
	}
	b, err := s.app.Predictor(ctx, p.Backend)
	if err != nil {
		return err
	}
	op := cp.UndeployOp
	if op == "" {
		if op, err = b.Undeploy(ctx, p.Model); err != nil {
			return fmt.Errorf("undeploy %s after failure: %w", p.Model, err)
		}
	}
	if op == "" {
		return s.holds.FinishUndeploy(ctx, p.Backend, p.Model, holder, true)
	}
	return s.holds.SetUndeployOp(ctx, p.Backend, p.Model, holder, op)
}
