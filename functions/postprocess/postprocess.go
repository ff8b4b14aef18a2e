// Package postprocess is the step that joins a run's predictions back to its
// clean rows by row key and shapes them as the spec's results section asks
// (columns selected and renamed, scores rounded, per-class scores, formula
// cells neutralized). It writes one result part per clean part, checkpointing
// after each and re-queueing itself when its budget runs out, composes the
// parts into one results CSV under a date-based path, loads that CSV into the
// results table (replacing the file's date partition, so a re-run never
// duplicates) and finishes the run.
package postprocess

import (
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

func init() {
	functions.HTTP("postprocess", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// Step is the postprocess step.
type Step struct {
	app *app.App
}

// New returns the step.
func New(a *app.App) *Step { return &Step{app: a} }

// Name is the step's name.
func (s *Step) Name() string { return run.Postprocess }

// Checkpoint records how far postprocess got.
type Checkpoint struct {
	// Parts is how many clean parts are joined into result parts.
	Parts int `json:"parts,omitempty"`
	// Rows is how many result rows those parts hold.
	Rows int64 `json:"rows"`
	// ErrorRows is how many rows the model service reported as errors.
	ErrorRows int64 `json:"error_rows,omitempty"`
	// Classes are the classes of the score_<class> columns (scores: all),
	// fixed when the first part is written.
	Classes []string `json:"classes,omitempty"`
	// Results is the results CSV, once composed.
	Results string `json:"results,omitempty"`
	// JobID and JobLocation name the results table's load job, once started.
	JobID       string `json:"job_id,omitempty"`
	JobLocation string `json:"job_location,omitempty"`
	// Applying is set once appended results are staged: JobID is then the
	// job applying them (bqload.Apply), and ResultRows what was staged.
	Applying   bool  `json:"applying,omitempty"`
	ResultRows int64 `json:"result_rows,omitempty"`
}

// ResultsObject is where a run's results CSV goes in the results bucket:
// PREFIX/dt=YYYY-MM-DD/BASENAME.csv, one object per source file name, so a
// re-run or a re-upload replaces it.
func ResultsObject(p *spec.Pipeline, r *run.Run) string {
	day := r.CreatedAt.UTC().Format("2006-01-02")
	if t, err := time.Parse("20060102", r.FileDate); err == nil {
		day = t.Format("2006-01-02")
	}
	base := path.Base(r.Source.Object)
	base = strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".csv")
	return p.Results.Prefix + "dt=" + day + "/" + base + ".csv"
}

// Run writes the results (across as many invocations as it takes) and loads
// them into the results table.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	if cp.Results == "" {
		done, err := s.writeResults(ctx, x, &cp)
		var je *joinError
		var af errAllFailed
		var sup *run.SupersededError
		if errors.As(err, &je) || errors.As(err, &af) || errors.As(err, &sup) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		if !done {
			return kernel.Continue(cp), nil
		}
	}
	if x.Pipeline.Results.Table == "" {
		return kernel.DoneWith(cp), nil
	}
	return s.loadResults(ctx, x, cp)
}

// Finalize removes the result parts of a run that failed in postprocess.
func (s *Step) Finalize(ctx context.Context, x *kernel.Exec) error {
	return removeAll(ctx, s.app.Clients.Storage.Bucket(s.app.Config.ResultsBucket), PartsPrefix(x.Run))
}
