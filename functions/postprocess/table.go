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
	}
	if req.FileDate == "" {
		req.WriteMode = spec.Append
	}
	if cp.JobID == "" {
		job, err := bqload.Load(ctx, bq, req)
		var se *bqload.SchemaError
		if errors.As(err, &se) || errors.Is(err, bqload.ErrInvalidRequest) {
			return kernel.Failed(err), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp.JobID, cp.JobLocation = job.ID, job.Location
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
	st, err := bqload.CheckJob(ctx, bq, bqload.Job{Project: req.Table.Project, ID: cp.JobID, Location: cp.JobLocation})
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
