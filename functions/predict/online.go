package predict

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dropcast/dropcast/shared/batching"
	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
)

// Phases of the online mode, in order.
const (
	phaseAcquire  = "acquire"
	phaseDeploy   = "deploy"
	phasePredict  = "predict"
	phaseRelease  = "release"
	phaseUndeploy = "undeploy"
	phaseDone     = "done"
)

// maxRedeploys bounds how often a model that vanished mid-run is deployed again.
const maxRedeploys = 3

// OutputDir is where the online mode writes a run epoch's predictions.
func OutputDir(work string) string { return work + "predictions/online/" }

// online runs the online mode's phases from cp until one must wait.
func (s *Step) online(ctx context.Context, x *kernel.Exec, b predictor.Backend, cp Checkpoint) (kernel.Outcome, error) {
	p := x.Pipeline.Predict
	holder := holds.Holder(x.Run.ID, x.Run.Epoch)
	for {
		switch cp.Phase {
		case "", phaseAcquire:
			rec, err := s.holds.Acquire(ctx, p.Backend, p.Model, holder)
			if err != nil {
				return kernel.Outcome{}, fmt.Errorf("hold model %s: %w", p.Model, err)
			}
			if rec.Undeploy != nil {
				// The last holder before us is undeploying: let it finish, then deploy anew.
				settled, err := s.holds.Settle(ctx, b, p.Backend, p.Model)
				if err != nil {
					return kernel.Outcome{}, err
				}
				if !settled {
					cp.Phase = phaseAcquire
					return kernel.PollLater(0, cp), nil
				}
				continue
			}
			cp.Phase = phaseDeploy
			x.SetOutput("predictions", OutputDir(s.workDir(x.Run)))

		case phaseDeploy:
			if cp.DeployOp == "" {
				op, err := b.Deploy(ctx, p.Model)
				if err != nil {
					return kernel.Outcome{}, fmt.Errorf("deploy %s: %w", p.Model, err)
				}
				if op == "" {
					cp.Phase = phasePredict
					continue
				}
				cp.DeployOp = op
				if err := s.save(ctx, x, cp); err != nil {
					return kernel.Outcome{}, err
				}
			}
			done, err := b.PollOperation(ctx, cp.DeployOp)
			switch {
			case done && err != nil:
				// The deployment failed: deploy again on the next delivery.
				failed := cp.DeployOp
				cp.DeployOp = ""
				if serr := s.save(ctx, x, cp); serr != nil {
					return kernel.Outcome{}, serr
				}
				return kernel.Outcome{}, fmt.Errorf("deploy %s (operation %s): %w", p.Model, failed, err)
			case err != nil:
				return kernel.Outcome{}, fmt.Errorf("poll deployment %s: %w", cp.DeployOp, err)
			case !done:
				return kernel.PollLater(0, cp), nil
			}
			cp.DeployOp, cp.Phase = "", phasePredict

		case phasePredict:
			out, finished, err := s.predict(ctx, x, b, &cp)
			if err != nil || !finished {
				return out, err
			}
			cp.Phase = phaseRelease

		case phaseRelease:
			last, err := s.holds.Release(ctx, p.Backend, p.Model, holder)
			if err != nil {
				return kernel.Outcome{}, fmt.Errorf("release model %s: %w", p.Model, err)
			}
			if !last {
				cp.Phase = phaseDone
				continue
			}
			if cp.UndeployOp == "" {
				op, err := b.Undeploy(ctx, p.Model)
				if err != nil {
					return kernel.Outcome{}, fmt.Errorf("undeploy %s: %w", p.Model, err)
				}
				if op == "" {
					if err := s.holds.FinishUndeploy(ctx, p.Backend, p.Model, holder, true); err != nil {
						return kernel.Outcome{}, err
					}
					cp.Phase = phaseDone
					continue
				}
				if err := s.holds.SetUndeployOp(ctx, p.Backend, p.Model, holder, op); err != nil {
					return kernel.Outcome{}, err
				}
				cp.UndeployOp = op
			}
			cp.Phase = phaseUndeploy
			if err := s.save(ctx, x, cp); err != nil {
				return kernel.Outcome{}, err
			}

		case phaseUndeploy:
			done, err := b.PollOperation(ctx, cp.UndeployOp)
			switch {
			case done && err != nil:
				// Undeploy again: the claim is still ours.
				failed := cp.UndeployOp
				cp.UndeployOp, cp.Phase = "", phaseRelease
				if serr := s.save(ctx, x, cp); serr != nil {
					return kernel.Outcome{}, serr
				}
				return kernel.Outcome{}, fmt.Errorf("undeploy %s (operation %s): %w", p.Model, failed, err)
			case err != nil:
				return kernel.Outcome{}, fmt.Errorf("poll undeploy %s: %w", cp.UndeployOp, err)
			case !done:
				return kernel.PollLater(0, cp), nil
			}
			// Undeploy again until nothing is left: a model deployed twice
			// (two racing deploys) needs one undeploy each.
			cp.UndeployOp, cp.Phase = "", phaseRelease

		case phaseDone:
			x.SetOutput("predictions", OutputDir(s.workDir(x.Run)))
			x.SetCounter(CounterCalls, cp.Calls)
			// Postprocess reads these files only: an invocation that
			// crashed after writing files it never saved may have left
			// more, with rows written again since.
			x.SetCounter(predictor.CounterOutputFiles, int64(cp.OutPart))
			return kernel.DoneWith(cp), nil

		default:
			return kernel.Failed(fmt.Errorf("predict checkpoint has unknown phase %q", cp.Phase)), nil
		}
	}
}

// predict streams the clean parts through the model from cp's progress. It
// reports finished when every row is predicted; otherwise the outcome says
// how to go on.
func (s *Step) predict(ctx context.Context, x *kernel.Exec, b predictor.Backend, cp *Checkpoint) (kernel.Outcome, bool, error) {
	p := x.Pipeline.Predict
	work := x.Run.WorkPrefix()
	bucket := s.app.Config.WorkBucket
	parts, err := cleanParts(ctx, s.app.Clients.Storage, bucket, work+"clean/")
	if err != nil {
		return kernel.Outcome{}, false, err
	}
	sizer, err := batching.New(batching.Config{Target: p.LatencyTarget.Duration}, cp.Batch)
	if err != nil {
		return kernel.Failed(err), false, nil
	}
	l := &loop{
		backend: b, gcs: s.app.Clients.Storage, model: p.Model, bucket: bucket, parts: parts,
		outDir: OutputDir(s.workDir(x.Run)), target: x.Pipeline.Predict.Target, sizer: sizer, deadline: x.Deadline,
		save: func(ctx context.Context, pr Progress) error {
			cp.Progress = pr
			return s.save(ctx, x, *cp)
		},
		saveEvery: SaveEvery,
	}
	why, wait, err := l.run(ctx, &cp.Progress)
	x.SetCounter(CounterCalls, cp.Calls)
	x.SetCounter(CounterBatchSize, int64(sizer.Size()))
	switch {
	case err != nil:
		return s.predictError(ctx, x, cp, err)
	case why == outOfTime:
		return kernel.Continue(*cp), false, nil
	case why == throttled:
		return kernel.PollLater(wait, *cp), false, nil
	}
	return kernel.Outcome{}, true, nil
}

// predictError sorts a prediction error: a lost lease stops at once, rows
// the model rejects fail the run, a model that vanished is deployed again,
// anything else is transient.
func (s *Step) predictError(ctx context.Context, x *kernel.Exec, cp *Checkpoint, err error) (kernel.Outcome, bool, error) {
	if errors.Is(err, kernel.ErrLeaseLost) || errors.Is(err, kernel.ErrLeaseExpired) {
		return kernel.Outcome{}, false, err
	}
	switch status.Code(err) {
	case codes.InvalidArgument:
		return kernel.Failed(fmt.Errorf("online prediction: %w", err)), false, nil
	case codes.FailedPrecondition, codes.NotFound:
		if cp.Redeploys >= maxRedeploys {
			return kernel.Failed(fmt.Errorf("online prediction: model gone after %d redeployments: %w", cp.Redeploys, err)), false, nil
		}
		cp.Redeploys++
		cp.Phase = phaseAcquire
		return kernel.PollLater(0, *cp), false, nil
	}
	return kernel.Outcome{}, false, fmt.Errorf("online prediction: %w", err)
}

// SaveEvery is the least time between two mid-invocation checkpoints of
// online prediction.
const SaveEvery = time.Second

// save commits cp mid-invocation and tells the test hook.
func (s *Step) save(ctx context.Context, x *kernel.Exec, cp Checkpoint) error {
	if err := x.Save(ctx, cp); err != nil {
		return err
	}
	if s.afterSave != nil {
		s.afterSave(cp.Phase)
	}
	return nil
}
