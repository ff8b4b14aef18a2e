// Package load is the step that loads a run's clean parts into BigQuery with
// one idempotent load job, replacing the file's date partition by default, and
// polls the job across invocations instead of waiting on it.
package load

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
)

func init() {
	functions.HTTP("load", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// Step is the load step.
type Step struct {
	bq         *bigquery.Client
	project    string
	workBucket string
}

// New returns the step.
func New(a *app.App) *Step {
	return &Step{bq: a.Clients.BigQuery, project: a.Config.Project, workBucket: a.Config.WorkBucket}
}

// Name is the step's name.
func (s *Step) Name() string { return run.Load }

// Checkpoint remembers the job being polled.
type Checkpoint struct {
	JobID string `json:"job_id"`
	Table string `json:"table"`
}

// JobID is the load job's ID for a run's epoch: the same run and epoch always
// load through the same job.
func JobID(r *run.Run) string {
	return fmt.Sprintf("dropcast_%s_e%d_load", strings.ReplaceAll(r.ID, "-", "_"), r.Epoch)
}

// Run starts the load job (once) and checks it.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	d := x.Pipeline.Destination
	req := bqload.Request{
		Table:          bqload.ParseTable(d.Table, s.project),
		Schema:         x.Pipeline.Schema.BigQuery(),
		WriteMode:      d.WriteMode,
		FileDate:       x.Run.FileDate,
		PartitionField: d.PartitionField,
		Clustering:     d.Clustering,
		SourceURIs:     []string{"gs://" + s.workBucket + "/" + x.Run.WorkPrefix() + "clean/part-*"},
		JobID:          JobID(x.Run),
	}
	if cp.JobID == "" {
		err := bqload.EnsureTable(ctx, s.bq, req)
		var se *bqload.SchemaError
		if errors.As(err, &se) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		if err := bqload.Start(ctx, s.bq, req); err != nil {
			return kernel.Outcome{}, err
		}
		cp = Checkpoint{JobID: req.JobID, Table: req.Table.Project + "." + req.Table.Dataset + "." + req.Destination()}
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	st, err := bqload.Check(ctx, s.bq, req.Table.Project, cp.JobID)
	if err != nil {
		return kernel.Outcome{}, err
	}
	if !st.Done {
		return kernel.PollLater(0, cp), nil
	}
	if st.Err != nil {
		return kernel.Failed(st.Err), nil
	}
	x.SetCounter(run.RowsLoaded, st.Rows)
	x.SetOutput("table", cp.Table)
	return kernel.Done(), nil
}
