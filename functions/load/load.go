// Package load is the step that loads a run's clean parts into BigQuery with
// one idempotent load job, as the spec's write mode says (replacing the file's
// date partition by default), and polls the job across invocations instead
// of waiting on it. An append stages the rows and then applies them with one
// query job that replaces the run's earlier rows (see bqload.Apply).
package load

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
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
	gcs        *storage.Client
	project    string
	workBucket string
	lanes      bqload.Lanes
}

// New returns the step.
func New(a *app.App) *Step {
	return &Step{bq: a.Clients.BigQuery, gcs: a.Clients.Storage, project: a.Config.Project, workBucket: a.Config.WorkBucket,
		lanes: bqload.Lanes{Storage: a.Clients.Storage, BigQuery: a.Clients.BigQuery, Bucket: a.Config.StateBucket}}
}

// Name is the step's name.
func (s *Step) Name() string { return run.Load }

// Checkpoint remembers the job being polled.
type Checkpoint struct {
	JobID    string `json:"job_id"`
	Table    string `json:"table"`
	Location string `json:"location,omitempty"`
	// Retries counts the jobs that failed for a transient reason and were
	// replaced by a new one.
	Retries int `json:"retries,omitempty"`
	// Applying is set once an append's staged rows are being applied: JobID
	// is then the apply job (see bqload.Apply) and Rows what the load
	// staged.
	Applying bool  `json:"applying,omitempty"`
	Rows     int64 `json:"rows,omitempty"`
}

// MaxJobRetries is how many new jobs a load starts after jobs that failed
// for a reason BigQuery calls transient (backendError and the like).
const MaxJobRetries = 2

func (cp Checkpoint) job(project string) bqload.Job {
	return bqload.Job{Project: project, ID: cp.JobID, Location: cp.Location}
}

// JobID is the load job's ID for a run's epoch: the same run and epoch always
// load through the same job (each retry of a transiently failed job through
// its own next one).
func JobID(r *run.Run) string { return retryJobID(r, 0) }

func retryJobID(r *run.Run, retry int) string {
	id := fmt.Sprintf("dropcast_%s_e%d_load", strings.ReplaceAll(r.ID, "-", "_"), r.Epoch)
	if retry > 0 {
		id += fmt.Sprintf("_r%d", retry)
	}
	return id
}

// Request is the load a run's epoch makes, on its retry-th job.
func (s *Step) Request(x *kernel.Exec, retry int) bqload.Request {
	d := x.Pipeline.Destination
	return bqload.Request{
		Table:          bqload.ParseTable(d.Table, s.project),
		Schema:         x.Pipeline.Schema.BigQuery(),
		WriteMode:      d.WriteMode,
		FileDate:       x.Run.FileDate,
		PartitionField: d.PartitionField,
		Clustering:     d.Clustering,
		SourceURIs:     []string{"gs://" + s.workBucket + "/" + x.Run.WorkPrefix() + "clean/part-*"},
		JobID:          retryJobID(x.Run, retry),
		// An append replaces the rows the run's earlier epochs left (see
		// bqload.Apply): a rerun never adds them twice.
		Run:        x.Run.ID,
		ApplyJobID: ApplyJobID(x.Run),
	}
}

// ApplyJobID is the query job that applies an append's staged rows for the
// run's epoch: one per epoch, whatever the load job's retries.
func ApplyJobID(r *run.Run) string {
	return fmt.Sprintf("dropcast_%s_e%d_apply", strings.ReplaceAll(r.ID, "-", "_"), r.Epoch)
}

// Run starts the load job (once) and checks it once: it never waits.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	req := s.Request(x, cp.Retries)
	if cp.JobID == "" {
		retries := cp.Retries
		var err error
		cp, err = s.start(ctx, x, req, retries)
		if permanent(err) {
			return kernel.Failed(err), nil
		}
		if errors.Is(err, errWaiting) {
			// An older load of this file into this table is still running:
			// ours starts after it, so that it commits last.
			return kernel.PollLater(0, Checkpoint{Retries: retries}), nil
		}
		if err != nil {
			return kernel.Outcome{}, err
		}
		if x.Remaining() <= 0 {
			return kernel.PollLater(0, cp), nil
		}
	}
	st, err := bqload.CheckJob(ctx, s.bq, cp.job(req.Table.Project))
	if err != nil {
		return kernel.Outcome{}, err
	}
	switch {
	case !st.Done:
		return kernel.PollLater(0, cp), nil
	case st.Err != nil:
		var je *bqload.JobError
		if errors.As(st.Err, &je) && je.Transient() && cp.Retries < MaxJobRetries && !cp.Applying {
			// BigQuery says a new job may succeed: start one after a pause.
			x.Log.WarnContext(ctx, "load job failed transiently; starting a new one", "job_id", cp.JobID, "err", st.Err)
			return kernel.PollLater(0, Checkpoint{Retries: cp.Retries + 1}), nil
		}
		return kernel.Failed(st.Err), nil
	}
	if req.ReplacesRun() && !cp.Applying {
		// The rows are staged: replace the run's rows with them.
		job, err := bqload.Apply(ctx, s.bq, req, cp.Location)
		if err != nil {
			return kernel.Outcome{}, err
		}
		cp = Checkpoint{JobID: job.ID, Location: job.Location, Table: cp.Table, Retries: cp.Retries, Applying: true, Rows: st.Rows}
		return kernel.PollLater(0, cp), nil
	}
	// A newer upload (or epoch) that claimed the table while our job ran
	// waited for it and writes the table after it: this run must not go on.
	if err := s.lanes.Check(ctx, turn(x.Run, req, cp.job(req.Table.Project))); err != nil {
		if permanent(err) {
			return kernel.Failed(err), nil
		}
		return kernel.Outcome{}, err
	}
	rows := st.Rows
	if cp.Applying {
		rows = cp.Rows
		if err := bqload.DropStage(ctx, s.bq, req); err != nil {
			return kernel.Outcome{}, err
		}
	}
	x.SetCounter(run.RowsLoaded, rows)
	x.SetOutput("table", cp.Table)
	return kernel.Done(), nil
}

// errWaiting says the load's turn has not come: an older load into the same
// destination is still running.
var errWaiting = errors.New("an older load of the file is still running")

// start prepares the table, takes the load's turn in its lane (see
// bqload.Lanes), starts the job (or re-attaches to it) and saves where to
// poll it.
func (s *Step) start(ctx context.Context, x *kernel.Exec, req bqload.Request, retries int) (Checkpoint, error) {
	if err := run.CheckSuperseded(ctx, s.gcs, x.Run.Source); err != nil {
		return Checkpoint{}, err
	}
	t, err := bqload.Prepare(ctx, s.bq, req)
	if err != nil {
		return Checkpoint{}, err
	}
	ready, err := s.lanes.Acquire(ctx, turn(x.Run, req, bqload.WriterOf(req, t)))
	if err != nil {
		return Checkpoint{}, err
	}
	if !ready {
		return Checkpoint{}, errWaiting
	}
	job, err := bqload.Start(ctx, s.bq, req, t)
	if err != nil {
		return Checkpoint{}, err
	}
	cp := Checkpoint{JobID: job.ID, Location: job.Location, Table: req.Table.Project + "." + req.Table.Dataset + "." + req.Destination(), Retries: retries}
	if err := x.Save(ctx, cp); err != nil {
		return Checkpoint{}, fmt.Errorf("save load checkpoint: %w", err)
	}
	return cp, nil
}

// turn is the run's place in the lane of its file into the request's
// destination: a newer generation of the file, or a newer epoch of the
// run, goes after it.
func turn(r *run.Run, req bqload.Request, job bqload.Job) bqload.Turn {
	lane, order := run.Lane(r, "load", req.Table.Project+"."+req.Table.Dataset+"."+req.Destination())
	return bqload.Turn{Lane: lane, Order: order, Job: job}
}

// permanent reports errors no retry can fix: a spec that conflicts with the
// table, or a request that would load the wrong thing.
func permanent(err error) bool {
	var se *bqload.SchemaError
	var sup *run.SupersededError
	var ov *bqload.OvertakenError
	return errors.As(err, &se) || errors.As(err, &sup) || errors.As(err, &ov) || errors.Is(err, bqload.ErrInvalidRequest)
}
