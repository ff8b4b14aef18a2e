// Package postprocess is the step that shapes a run's predictions into its
// results, as the spec's results section asks (columns selected and renamed,
// scores rounded, per-class scores, formula cells neutralized). The model
// services return every input column next to the prediction columns, and
// the online mode writes its predictions in the same layout, so each result
// row comes from its prediction row alone: postprocess streams the
// prediction files one at a time and holds no index of the run, so its
// memory does not grow with the run's rows. Each predictions file becomes
// one result part; the checkpoint counts the files done and is saved at
// most once a second, and the step re-queues itself when its budget runs
// out, so the work of a run is linear in its rows however many invocations
// it takes. The rows of the errors files are counted. It then composes the
// parts into one results CSV under a date-based path, loads that CSV into
// the results table (replacing the file's date partition, so a re-run never
// duplicates) and finishes the run.
//
// The results CSV holds the rows in the order of the prediction files (by
// their numbers) and, within each, in the file's order: the order the
// service wrote them, not necessarily the source file's. Sort by
// source_line (the row's line in the source file) for that.
//
// A row the service reports in an errors file and in a predictions file
// gets its result row and is counted as an error too. A row reported twice
// cannot be told apart without an index of the run: when the predictions
// outnumber the run's clean rows, the run fails rather than give results
// with duplicates.
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
	// Listed is how many files (predictions and errors) the prediction
	// output held when postprocess began; it must not change.
	Listed int `json:"listed,omitempty"`
	// Files is how many of them are done, in ListOutput's order: the
	// predictions files (file i is result part i), then the errors files.
	Files int `json:"files,omitempty"`
	// Rows is how many result rows the parts written hold.
	Rows int64 `json:"rows"`
	// ErrorRows is how many rows the errors files done hold.
	ErrorRows int64 `json:"error_rows,omitempty"`
	// Classes are the classes of the score_<class> columns (scores: all):
	// those of every predictions file's header, fixed by the first
	// invocation.
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
