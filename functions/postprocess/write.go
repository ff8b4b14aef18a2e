package postprocess

import (
	"context"
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

// saveEvery is the least time between two checkpoints saved within an
// invocation (Cloud Storage takes about one write a second to one object,
// the run record). Files done past the last save are redone after a crash:
// result part i is a function of predictions file i, so a redone part is
// the same object.
const saveEvery = time.Second

// writeResults works through the prediction output's files cp has not done
// yet, in ListOutput's order: each predictions file i becomes result part i,
// then each errors file's rows are counted. It stops between files once the
// budget is spent (false: continue in a new invocation); every invocation
// does at least one file. With every file done it composes the parts into
// the results object and removes them (true).
func (s *Step) writeResults(ctx context.Context, x *kernel.Exec, cp *Checkpoint) (bool, error) {
	dir := x.Run.Outputs["predictions"]
	if dir == "" {
		return false, &joinError{"the run records no prediction output directory"}
	}
	b, err := s.app.Predictor(ctx, x.Pipeline.Predict.Backend)
	if err != nil {
		return false, err
	}
	out := predictor.Output{Dir: dir, Input: x.Pipeline.CleanHeader(), Target: x.Pipeline.Predict.Target}
	if x.Pipeline.Predict.Mode == spec.Online {
		// Only the files the online mode finished with: a crashed
		// invocation may have written more, holding rows written again.
		out.Files = int(x.Run.Counters[predictor.CounterOutputFiles])
	}
	files, err := b.ListOutput(ctx, out)
	if err != nil {
		return false, fmt.Errorf("list predictions in %s: %w", dir, err)
	}
	total := len(files.Predictions) + len(files.Errors)
	if cp.Listed == 0 {
		// The first invocation (or one of a checkpoint from before files
		// were counted): start afresh and fix the results' classes.
		*cp = Checkpoint{Listed: total}
		if x.Pipeline.Results.Scores == spec.ScoresAll {
			if cp.Classes, err = classesOf(ctx, b, out, files.Predictions); err != nil {
				return false, err
			}
		}
	}
	if total != cp.Listed {
		return false, &joinError{fmt.Sprintf("the prediction output %s changed: %d files, %d when postprocess began", dir, total, cp.Listed)}
	}
	l, err := layoutOf(x.Pipeline, *cp)
	if err != nil {
		return false, err
	}
	meta := metadata{
		runID:       x.Run.ID,
		source:      x.Run.Source.URI(),
		model:       x.Pipeline.Predict.Model,
		predictedAt: x.Run.StepState(run.Predict).FinishedAt.UTC().Format("2006-01-02 15:04:05.000000 UTC"),
	}
	results := s.app.Clients.Storage.Bucket(s.app.Config.ResultsBucket)
	lastSave := time.Now()
	for start := cp.Files; cp.Files < total; {
		if cp.Files > start && !time.Now().Before(x.Deadline) {
			return false, nil
		}
		if i := cp.Files; i < len(files.Predictions) {
			n, err := writePart(ctx, b, out, files.Predictions[i], results.Object(partObject(x.Run, i)), l, meta, i == 0)
			if err != nil {
				return false, err
			}
			cp.Rows += n
		} else {
			n, err := b.CountErrors(ctx, files.Errors[i-len(files.Predictions)])
			if err != nil {
				return false, fmt.Errorf("count prediction errors: %w", err)
			}
			cp.ErrorRows += n
		}
		cp.Files++
		x.SetCounter(run.RowsPredicted, cp.Rows)
		x.SetCounter(run.RowsErrored, cp.ErrorRows)
		if time.Since(lastSave) >= saveEvery {
			if err := x.Save(ctx, *cp); err != nil {
				return false, err
			}
			lastSave = time.Now()
		}
	}
	if cp.Rows == 0 && cp.ErrorRows > 0 {
		return false, errAllFailed{errors: cp.ErrorRows, dir: dir}
	}
	if clean, ok := x.Run.Counters[run.RowsClean]; ok && cp.Rows > clean {
		// Without an index of the run, a row reported twice cannot be told
		// from another: more predictions than rows is all that shows it.
		return false, &joinError{fmt.Sprintf("the prediction output %s holds %d predictions for %d clean rows: some row is reported more than once", dir, cp.Rows, clean)}
	}
	if err := run.CheckSuperseded(ctx, s.app.Clients.Storage, x.Run.Source); err != nil {
		return false, err
	}
	srcs := make([]string, len(files.Predictions))
	for i := range srcs {
		srcs[i] = partObject(x.Run, i)
	}
	obj := ResultsObject(x.Pipeline, x.Run)
	if err := compose(ctx, results, srcs, obj, PartsPrefix(x.Run)); err != nil {
		return false, err
	}
	cp.Results = "gs://" + s.app.Config.ResultsBucket + "/" + obj
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

// errAllFailed fails a run whose every row the model service rejected: its
// results would be empty, and its users must hear about it.
type errAllFailed struct {
	errors int64
	dir    string
}

func (e errAllFailed) Error() string {
	return fmt.Sprintf("the model service rejected every row (%d errors); see the errors files in %s", e.errors, e.dir)
}
