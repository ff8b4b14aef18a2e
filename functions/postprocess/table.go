package postprocess

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

// loadResults loads the results CSV into the results table with the
// destination's write mode — replacing the file's date partition by default,
// appending when the destination appends (several files a day) or the file
// has no date — so results and loaded rows always correspond. The table's
// schema is the layout the CSV was written with.
func (s *Step) loadResults(ctx context.Context, x *kernel.Exec, cp Checkpoint) (kernel.Outcome, error) {
	l, err := layoutOf(x.Pipeline, cp)
	if err != nil {
		return kernel.Failed(err), nil
	}
	bq := s.app.Clients.BigQuery
	req := bqload.Request{
		Table:      bqload.ParseTable(x.Pipeline.Results.Table, s.app.Config.Project),
		Schema:     l.Schema(),
		WriteMode:  x.Pipeline.Destination.WriteMode,
		FileDate:   x.Run.FileDate,
		SourceURIs: []string{cp.Results},
		JobID:      fmt.Sprintf("dropcast_%s_e%d_results", strings.ReplaceAll(x.Run.ID, "-", "_"), x.Run.Epoch),
		// An append replaces the results an earlier epoch of the run left,
		// by their run_id (see bqload.Apply).
		Run:        x.Run.ID,
		RunColumn:  "run_id",
		ApplyJobID: fmt.Sprintf("dropcast_%s_e%d_results_apply", strings.ReplaceAll(x.Run.ID, "-", "_"), x.Run.Epoch),
	}
	if req.FileDate == "" {
		req.WriteMode = spec.Append
	}
	lanes := bqload.Lanes{Storage: s.app.Clients.Storage, BigQuery: bq, Bucket: s.app.Config.StateBucket}
	lane, order := run.Lane(x.Run, "results", req.Table.Project+"."+req.Table.Dataset+"."+req.Destination())
	if cp.JobID == "" {
		// The load takes its turn in the lane of the file's results (see
		// bqload.Lanes): an older upload's or epoch's results job still
		// running commits before ours, never after.
		t, err := bqload.Prepare(ctx, bq, req)
		var se *bqload.SchemaError
		if errors.As(err, &se) || errors.Is(err, bqload.ErrInvalidRequest) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		ready, err := lanes.Acquire(ctx, bqload.Turn{Lane: lane, Order: order, Job: bqload.WriterOf(req, t)})
		var ov *bqload.OvertakenError
		if errors.As(err, &ov) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		if !ready {
			return kernel.PollLater(0, cp), nil
		}
		job, err := bqload.Start(ctx, bq, req, t)
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp.JobID, cp.JobLocation = job.ID, job.Location
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	job := bqload.Job{Project: req.Table.Project, ID: cp.JobID, Location: cp.JobLocation}
	st, err := bqload.CheckJob(ctx, bq, job)
	if err != nil {
		return kernel.Outcome{}, err
	}
	if !st.Done {
		return kernel.PollLater(0, cp), nil
	}
	if st.Err != nil {
		return kernel.Failed(st.Err), nil
	}
	if req.ReplacesRun() && !cp.Applying {
		// The results are staged: replace the run's results with them.
		job, err := bqload.Apply(ctx, bq, req, cp.JobLocation)
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp.JobID, cp.JobLocation, cp.Applying, cp.ResultRows = job.ID, job.Location, true, st.Rows
		return kernel.PollLater(0, cp), nil
	}
	// A newer upload or epoch that claimed the results table while our job
	// ran writes it after us: this run must not go on.
	if err := lanes.Check(ctx, bqload.Turn{Lane: lane, Order: order, Job: job}); err != nil {
		var ov *bqload.OvertakenError
		if errors.As(err, &ov) {
			return kernel.Failed(err), nil
		}
		return kernel.Outcome{}, err
	}
	rows := st.Rows
	if cp.Applying {
		rows = cp.ResultRows
		if err := bqload.DropStage(ctx, bq, req); err != nil {
			return kernel.Outcome{}, err
		}
	}
	x.SetCounter(run.RowsResults, rows)
	x.SetOutput("results_table", req.Table.Project+"."+req.Table.Dataset+"."+req.Destination())
	return kernel.DoneWith(cp), nil
}

// layoutOf is the layout the checkpoint's parts were written with.
func layoutOf(p *spec.Pipeline, cp Checkpoint) (*Layout, error) {
	l, err := NewLayout(p, cp.Classes)
	if err != nil {
		return nil, fmt.Errorf("results layout: %w", err)
	}
	return l, nil
}
