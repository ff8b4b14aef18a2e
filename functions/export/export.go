// Package export is the first step of a scheduled run: it reads the rows of
// the schedule's BigQuery table or query page by page and writes them as the
// run's clean parts (spec columns in canonical form, plus _row), so predict
// and postprocess handle them exactly like a file's rows. Each page is a part
// and a checkpoint, so a result of any size finishes across invocations.
package export

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

func init() {
	functions.HTTP("export", app.StepHandler(func(a *app.App) kernel.Step { return New(a) }))
}

// PageRows is how many rows one page, and so one part, holds.
const PageRows = 50_000

// Step is the export step.
type Step struct {
	app      *app.App
	pageRows int
}

// New returns the step.
func New(a *app.App) *Step { return &Step{app: a, pageRows: PageRows} }

// Name is the step's name.
func (s *Step) Name() string { return run.Export }

// Checkpoint is how far the export got.
type Checkpoint struct {
	// JobID and JobLocation name the query job, for query schedules.
	JobID       string `json:"job_id,omitempty"`
	JobLocation string `json:"job_location,omitempty"`
	// PageToken is the next page to read; empty with Parts > 0 means done.
	PageToken string `json:"page_token,omitempty"`
	Rows      int64  `json:"rows"`
	Parts     int    `json:"parts"`
}

// Run exports page after page until the rows end or the budget does.
func (s *Step) Run(ctx context.Context, x *kernel.Exec) (kernel.Outcome, error) {
	sc, ok := x.Pipeline.Schedule(x.Run.Schedule)
	if !ok {
		return kernel.Failed(fmt.Errorf("pipeline %s has no schedule %q", x.Pipeline.Name, x.Run.Schedule)), nil
	}
	var cp Checkpoint
	if _, err := x.Checkpoint(&cp); err != nil {
		return kernel.Outcome{}, err
	}
	bq := s.app.Clients.BigQuery
	var rows *bigquery.RowIterator
	if sc.Query != "" {
		if cp.JobID == "" {
			id, location, err := s.startQuery(ctx, bq, x.Run, sc)
			if err != nil {
				return kernel.Outcome{}, err
			}
			cp.JobID, cp.JobLocation = id, location
			if err := x.Save(ctx, cp); err != nil {
				return kernel.Outcome{}, err
			}
		}
		job, err := bq.JobFromIDLocation(ctx, cp.JobID, cp.JobLocation)
		if err != nil {
			return kernel.Outcome{}, fmt.Errorf("get query job %s: %w", cp.JobID, err)
		}
		st := job.LastStatus()
		if st == nil || !st.Done() {
			return kernel.PollLater(0, cp), nil
		}
		if st.Err() != nil {
			return kernel.Failed(fmt.Errorf("query of schedule %s failed: %w", sc.Name, st.Err())), nil
		}
		if rows, err = job.Read(ctx); err != nil {
			return kernel.Outcome{}, fmt.Errorf("read query results: %w", err)
		}
	} else {
		t := bqload.ParseTable(sc.Table, s.app.Config.Project)
		rows = bq.DatasetInProject(t.Project, t.Dataset).Table(t.Table).Read(ctx)
	}

	pager := iterator.NewPager(rows, s.pageRows, cp.PageToken)
	for {
		if !time.Now().Before(x.Deadline) {
			return kernel.Continue(cp), nil
		}
		var page [][]bigquery.Value
		next, err := pager.NextPage(&page)
		if err != nil {
			var gerr *googleapi.Error
			if errors.As(err, &gerr) && gerr.Code == http.StatusNotFound {
				return kernel.Failed(fmt.Errorf("schedule %s: %w", sc.Name, err)), nil
			}
			return kernel.Outcome{}, fmt.Errorf("read rows of schedule %s: %w", sc.Name, err)
		}
		cols, err := columnIndex(x.Pipeline, rows.Schema)
		if err != nil {
			return kernel.Failed(fmt.Errorf("schedule %s: %w", sc.Name, err)), nil
		}
		if len(page) > 0 || cp.Parts == 0 {
			if err := s.writePart(ctx, x, cp, cols, page); err != nil {
				return kernel.Outcome{}, err
			}
			cp.Parts++
			cp.Rows += int64(len(page))
		}
		cp.PageToken = next
		x.SetCounter(run.RowsIn, cp.Rows)
		x.SetCounter(run.RowsClean, cp.Rows)
		if next == "" {
			if cp.Rows == 0 {
				return kernel.Failed(fmt.Errorf("schedule %s: no rows to predict", sc.Name)), nil
			}
			x.SetOutput("clean", "gs://"+s.app.Config.WorkBucket+"/"+x.Run.WorkPrefix()+"clean/")
			return kernel.DoneWith(cp), nil
		}
		if err := x.Save(ctx, cp); err != nil {
			return kernel.Outcome{}, err
		}
	}
}

// startQuery starts the schedule's query under a deterministic job ID, in
// the client's location (DROPCAST_BIGQUERY_LOCATION); a repeated start finds
// the job. It returns the job's ID and location.
func (s *Step) startQuery(ctx context.Context, bq *bigquery.Client, r *run.Run, sc spec.Schedule) (string, string, error) {
	id := fmt.Sprintf("dropcast_%s_e%d_export", strings.ReplaceAll(r.ID, "-", "_"), r.Epoch)
	day, _ := time.Parse("20060102", r.FileDate)
	q := bq.Query(strings.ReplaceAll(sc.Query, "{date}", day.Format("2006-01-02")))
	q.JobID = id
	job, err := q.Run(ctx)
	var gerr *googleapi.Error
	switch {
	case err == nil:
		return id, job.Location(), nil
	case errors.As(err, &gerr) && gerr.Code == http.StatusConflict:
		return id, bq.Location, nil
	}
	return "", "", fmt.Errorf("start query of schedule %s: %w", sc.Name, err)
}
