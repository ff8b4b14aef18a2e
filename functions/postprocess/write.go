package postprocess

import (
	"context"
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

// writeResults joins the clean parts cp has not joined yet, one result part
// per clean part, saving cp after each. It stops between parts once the
// budget is spent (false: continue in a new invocation); every invocation
// joins at least one part, so each pays for reading the predictions with a
// part's worth of progress. With every part written it composes them into
// the results object and removes them (true).
func (s *Step) writeResults(ctx context.Context, x *kernel.Exec, cp *Checkpoint) (bool, error) {
	gcs := s.app.Clients.Storage
	work, results := gcs.Bucket(s.app.Config.WorkBucket), gcs.Bucket(s.app.Config.ResultsBucket)
	clean, err := gcsuri.List(ctx, work, x.Run.WorkPrefix()+"clean/")
	if err != nil {
		return false, err
	}
	if len(clean) == 0 {
		return false, &joinError{"the run has no clean parts to join"}
	}
	if cp.Parts < len(clean) {
		l, ix, err := s.prepare(ctx, x, cp)
		if err != nil {
			return false, err
		}
		meta := metadata{
			runID:       x.Run.ID,
			source:      x.Run.Source.URI(),
			model:       x.Pipeline.Predict.Model,
			predictedAt: x.Run.StepState(run.Predict).FinishedAt.UTC().Format("2006-01-02 15:04:05.000000 UTC"),
		}
		for start := cp.Parts; cp.Parts < len(clean); {
			if cp.Parts > start && !time.Now().Before(x.Deadline) {
				return false, nil
			}
			n, err := joinPart(ctx, work.Object(clean[cp.Parts]), results.Object(partObject(x.Run, cp.Parts)), l, ix, meta, cp.Parts == 0)
			if err != nil {
				return false, err
			}
			cp.Parts++
			cp.Rows += n
			if err := x.Save(ctx, *cp); err != nil {
				return false, err
			}
		}
	}
	if cp.Rows == 0 && cp.ErrorRows > 0 {
		return false, errAllFailed{errors: cp.ErrorRows, dir: x.Run.Outputs["predictions"]}
	}
	if err := run.CheckSuperseded(ctx, s.app.Clients.Storage, x.Run.Source); err != nil {
		return false, err
	}
	srcs := make([]string, len(clean))
	for i := range srcs {
		srcs[i] = partObject(x.Run, i)
	}
	obj := ResultsObject(x.Pipeline, x.Run)
	if err := compose(ctx, results, srcs, obj, PartsPrefix(x.Run)); err != nil {
		return false, err
	}
	cp.Results = "gs://" + s.app.Config.ResultsBucket + "/" + obj
	x.SetCounter(run.RowsPredicted, cp.Rows)
	x.SetCounter(run.RowsErrored, cp.ErrorRows)
	x.SetOutput("results", cp.Results)
	if err := x.Save(ctx, *cp); err != nil {
		return false, err
	}
	if err := removeAll(ctx, results, PartsPrefix(x.Run)); err != nil {
		// The results are complete; leftovers under _dropcast/ are only clutter.
		x.Log.WarnContext(ctx, "remove result parts", "err", err)
	}
	return true, nil
}

// prepare reads the run's predictions and fixes the results layout: the
// classes of score_<class> columns come from the predictions for the first
// part and from cp afterwards, so every part has the same columns.
func (s *Step) prepare(ctx context.Context, x *kernel.Exec, cp *Checkpoint) (*Layout, *index, error) {
	dir := x.Run.Outputs["predictions"]
	if dir == "" {
		return nil, nil, &joinError{"the run records no prediction output directory"}
	}
	b, err := s.app.Predictor(ctx, x.Pipeline.Predict.Backend)
	if err != nil {
		return nil, nil, err
	}
	all := x.Pipeline.Results.Scores == spec.ScoresAll
	var fixed []string
	if all && cp.Parts > 0 {
		fixed = append([]string{}, cp.Classes...) // non-nil: frozen, even when empty
	}
	out := predictor.Output{Dir: dir, Input: x.Pipeline.CleanHeader(), Target: x.Pipeline.Predict.Target}
	ix, errRows, err := readPredictions(ctx, b, out, all, fixed)
	if err != nil {
		return nil, nil, err
	}
	var classes []string
	if all {
		classes = ix.classes
	}
	l, err := NewLayout(x.Pipeline, classes)
	if err != nil {
		return nil, nil, err
	}
	cp.Classes, cp.ErrorRows = classes, errRows
	x.SetCounter(run.RowsErrored, errRows)
	return l, ix, nil
}

// errAllFailed fails a run whose every row the model service rejected: its
// results would be empty, and its users must hear about it.
type errAllFailed struct {
	errors int64
	dir    string
}

func (e errAllFailed) Error() string {
	return fmt.Sprintf("the model service rejected every row (%d errors); see the errors files in %s", e.errors, e.dir)
}
