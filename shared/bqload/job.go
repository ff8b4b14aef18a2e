package bqload

import (
	"context"
	"fmt"
	"net/http"

	"cloud.google.com/go/bigquery"
)

// Job is a started load job: what it takes to check it.
type Job struct {
	Project  string `json:"project"`
	ID       string `json:"id"`
	Location string `json:"location,omitempty"`
}

// Load prepares the destination (see Prepare) and starts the load job
// (see Start): repeating Load never loads twice. It does not wait. A
// conflicting table is a *SchemaError and an invalid request wraps
// ErrInvalidRequest: neither is worth retrying.
func Load(ctx context.Context, bq *bigquery.Client, r Request) (Job, error) {
	t, err := Prepare(ctx, bq, r)
	if err != nil {
		return Job{}, err
	}
	return Start(ctx, bq, r, t)
}

// Prepare creates or fits the destination table (see prepare) and returns
// what the load must use; Job(r) is where its job will run.
func Prepare(ctx context.Context, bq *bigquery.Client, r Request) (Target, error) {
	return prepare(ctx, bq, r)
}

// JobOf is the job r runs as in the prepared destination t.
func JobOf(r Request, t Target) Job {
	return Job{Project: r.Table.Project, ID: r.JobID, Location: t.Location}
}

// Start starts the load job into the prepared destination, or re-attaches
// to it when a job with the same ID exists already (BigQuery answers 409).
func Start(ctx context.Context, bq *bigquery.Client, r Request, t Target) (Job, error) {
	gcs := bigquery.NewGCSReference(r.SourceURIs...)
	gcs.SourceFormat = bigquery.CSV
	gcs.SkipLeadingRows = 1
	gcs.AllowQuotedNewlines = true
	gcs.AllowJaggedRows = t.Jagged
	gcs.Schema = t.Schema
	dest, disposition := r.Destination(), r.disposition()
	if r.ReplacesRun() {
		// Into the run's staging table, replacing what an earlier attempt
		// left there (see replace.go).
		gcs.AllowJaggedRows, gcs.Schema = false, t.Stage
		dest, disposition = r.StageTable(), bigquery.WriteTruncate
	}
	l := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(dest).LoaderFrom(gcs)
	l.JobID = r.JobID
	l.Location = t.Location
	l.CreateDisposition = bigquery.CreateNever
	l.WriteDisposition = disposition
	job := JobOf(r, t)
	_, err := l.Run(ctx)
	if isStatus(err, http.StatusConflict) {
		return job, nil // the job exists: this is a repeated start
	}
	if err != nil {
		return Job{}, fmt.Errorf("start load job %s into %s.%s: %w", r.JobID, r.Table.Dataset, dest, err)
	}
	return job, nil
}

// Status is what one check of a job found.
type Status struct {
	Done bool
	// Rows is the number of rows loaded, once done.
	Rows int64
	// Err is the job's failure, a *JobError with BigQuery's reasons,
	// locations and messages.
	Err error
}

// CheckJob looks at a job once, in its location, without waiting.
func CheckJob(ctx context.Context, bq *bigquery.Client, j Job) (Status, error) {
	job, err := bq.JobFromProject(ctx, j.Project, j.ID, j.Location)
	if err != nil {
		return Status{}, fmt.Errorf("get job %s: %w", j.ID, err)
	}
	st := job.LastStatus()
	if st == nil || !st.Done() {
		return Status{}, nil
	}
	if st.Err() != nil {
		return Status{Done: true, Err: jobError(j.ID, st)}, nil
	}
	var rows int64
	if ls, ok := st.Statistics.Details.(*bigquery.LoadStatistics); ok {
		rows = ls.OutputRows
	}
	return Status{Done: true, Rows: rows}, nil
}
