// Package postprocess is the step that joins a run's predictions back to its
// clean rows by row key, writes the results CSV to the results bucket under a
// date-based path, loads the same rows into the spec's results table
// (replacing the file's date partition, so a re-run never duplicates) and
// finishes the run.
package postprocess

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/bqload"
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
	Results string `json:"results,omitempty"`
	Rows    int64  `json:"rows"`
	JobID   string `json:"job_id,omitempty"`
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

// Run writes the results (once) and loads them into the results table.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	if cp.Results == "" {
		obj := ResultsObject(x.Pipeline, x.Run)
		n, errRows, err := s.writeResults(ctx, x, obj)
		var je *joinError
		if errors.As(err, &je) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp = Checkpoint{Results: "gs://" + s.app.Config.ResultsBucket + "/" + obj, Rows: n}
		x.SetCounter(run.RowsPredicted, n)
		x.SetCounter(run.RowsErrored, errRows)
		x.SetOutput("results", cp.Results)
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	if x.Pipeline.Results.Table == "" {
		return kernel.DoneWith(cp), nil
	}
	return s.loadResults(ctx, x, cp)
}

// loadResults loads the results CSV into the results table, replacing the
// file's date partition.
func (s *Step) loadResults(ctx context.Context, x *kernel.Exec, cp Checkpoint) (kernel.Outcome, error) {
	bq := s.app.Clients.BigQuery
	req := bqload.Request{
		Table:      bqload.ParseTable(x.Pipeline.Results.Table, s.app.Config.Project),
		Schema:     ResultsSchema(x.Pipeline),
		WriteMode:  spec.ReplacePartition,
		FileDate:   x.Run.FileDate,
		SourceURIs: []string{cp.Results},
		JobID:      fmt.Sprintf("dropcast_%s_e%d_results", strings.ReplaceAll(x.Run.ID, "-", "_"), x.Run.Epoch),
	}
	if req.FileDate == "" {
		req.WriteMode = spec.Append
	}
	if cp.JobID == "" {
		err := bqload.EnsureTable(ctx, bq, req)
		var se *bqload.SchemaError
		if errors.As(err, &se) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		if err := bqload.Start(ctx, bq, req); err != nil {
			return kernel.Outcome{}, err
		}
		cp.JobID = req.JobID
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	st, err := bqload.Check(ctx, bq, req.Table.Project, cp.JobID)
	if err != nil {
		return kernel.Outcome{}, err
	}
	if !st.Done {
		return kernel.PollLater(0, cp), nil
	}
	if st.Err != nil {
		return kernel.Failed(st.Err), nil
	}
	x.SetCounter(run.RowsResults, st.Rows)
	x.SetOutput("results_table", req.Table.String()+"$"+req.FileDate)
	return kernel.DoneWith(cp), nil
}

// Metadata columns appended to every result row.
var metadataColumns = []string{"prediction", "score", "run_id", "source_file", "model", "predicted_at", "source_line"}

// ResultsSchema is the results table's schema: the spec's columns (all
// NULLABLE), the prediction and its score, and the run metadata.
func ResultsSchema(p *spec.Pipeline) bigquery.Schema {
	var out bigquery.Schema
	for _, c := range p.Columns {
		out = append(out, &bigquery.FieldSchema{Name: c.Name, Type: c.Type.FieldType()})
	}
	return append(out,
		&bigquery.FieldSchema{Name: "prediction", Type: bigquery.StringFieldType},
		&bigquery.FieldSchema{Name: "score", Type: bigquery.FloatFieldType},
		&bigquery.FieldSchema{Name: "run_id", Type: bigquery.StringFieldType, Required: true},
		&bigquery.FieldSchema{Name: "source_file", Type: bigquery.StringFieldType, Required: true},
		&bigquery.FieldSchema{Name: "model", Type: bigquery.StringFieldType, Required: true},
		&bigquery.FieldSchema{Name: "predicted_at", Type: bigquery.TimestampFieldType, Required: true},
		&bigquery.FieldSchema{Name: "source_line", Type: bigquery.IntegerFieldType, Required: true},
	)
}
