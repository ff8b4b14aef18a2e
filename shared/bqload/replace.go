package bqload

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/shared/spec"
)

// An append that replaces its run's rows (Request.Run set) runs in two jobs:
//
//  1. Start loads the run's files into a staging table of its own (one per
//     run epoch, in the destination's dataset) with WRITE_TRUNCATE: loading
//     again leaves the same rows.
//  2. Apply runs one query job, with the deterministic ID ApplyJobID, of
//     one multi-statement transaction:
//
//     BEGIN TRANSACTION;
//     DELETE FROM dest WHERE run_column = @run;
//     INSERT INTO dest ([_PARTITIONTIME,] columns..., [run_column]) SELECT ... FROM staging;
//     COMMIT TRANSACTION;
//
//     "The query executes a COMMIT TRANSACTION statement. This statement
//     atomically commits all changes made inside the transaction" and "If
//     an error occurs during a transaction and there is no exception
//     handler, then the query fails and BigQuery automatically rolls back
//     the transaction" (https://cloud.google.com/bigquery/docs/transactions):
//     the destination holds the run's rows exactly once, whether this is the
//     first epoch or a rerun, and whatever an earlier epoch left. A repeated
//     Apply gets 409 for the existing job ID and re-attaches to it.
//     Rows of an ingestion-time partitioned table go to the file's day:
//     "When you use a DML statement to add rows to an ingestion-time
//     partitioned table, you can specify the partition to which the rows
//     should be added. You reference the partition using the _PARTITIONTIME
//     pseudocolumn"
//     (https://cloud.google.com/bigquery/docs/using-dml-with-partitioned-tables).
//  3. DropStage deletes the staging table; one left behind (a run that died
//     in between) expires: it is created with an expiration time, "the time at which
//     this table expires, at which point it will be deleted" (BigQuery
//     client reference, https://cloud.google.com/dotnet/docs/reference/Google.Cloud.BigQuery.V2/latest/Google.Cloud.BigQuery.V2.TableExtensions).
//
// The destination needs the run's tag on every row: RunColumn, by default
// RunTagColumn, which prepare adds to a table that lacks it as a NULLABLE
// STRING at the end (an existing table's older rows keep NULL there and are
// never deleted). The lane (lane.go) orders the apply jobs of one file's
// epochs and uploads: WriterOf is the job a Turn names.

// RunTagColumn is the column an append destination tags its rows with.
const RunTagColumn = "_run"

// StageExpiration is how long a staging table left behind lives.
const StageExpiration = 7 * 24 * time.Hour

// ReplacesRun reports whether the load replaces its run's rows (an append
// with Run set) through a staging table and an apply job.
func (r Request) ReplacesRun() bool { return r.Run != "" && r.WriteMode == spec.Append }

func (r Request) runColumn() string {
	if r.RunColumn != "" {
		return r.RunColumn
	}
	return RunTagColumn
}

// StageTable is the staging table's ID (in the destination's dataset).
func (r Request) StageTable() string { return "_dropcast_stage_" + r.ApplyJobID }

// withRunColumn is the destination's schema: the spec's, plus the run's tag
// column when the spec lacks it.
func (r Request) withRunColumn() bigquery.Schema {
	for _, f := range r.Schema {
		if strings.EqualFold(f.Name, r.runColumn()) {
			return r.Schema
		}
	}
	return append(append(bigquery.Schema{}, r.Schema...), &bigquery.FieldSchema{Name: r.runColumn(), Type: bigquery.StringFieldType})
}

// WriterOf is the job that writes the destination for r in the prepared t:
// the apply job when r replaces its run's rows, else the load job.
func WriterOf(r Request, t Target) Job {
	if r.ReplacesRun() {
		return Job{Project: r.Table.Project, ID: r.ApplyJobID, Location: t.Location}
	}
	return JobOf(r, t)
}

// createStage creates the run's staging table (one that exists is fine).
func createStage(ctx context.Context, bq *bigquery.Client, r Request, schema bigquery.Schema) error {
	t := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(r.StageTable())
	err := t.Create(ctx, &bigquery.TableMetadata{Schema: schema, ExpirationTime: time.Now().Add(StageExpiration)})
	if err != nil && !isStatus(err, http.StatusConflict) {
		return fmt.Errorf("create staging table %s: %w", r.StageTable(), err)
	}
	return nil
}

// Apply starts the query job that replaces the run's rows in the
// destination with the staged ones, or re-attaches to it (409). Start's
// load into the staging table must be DONE.
func Apply(ctx context.Context, bq *bigquery.Client, r Request, location string) (Job, error) {
	ds := bq.DatasetInProject(r.Table.Project, r.Table.Dataset)
	job := Job{Project: r.Table.Project, ID: r.ApplyJobID, Location: location}
	stage, err := ds.Table(r.StageTable()).Metadata(ctx)
	if isStatus(err, http.StatusNotFound) {
		// Dropped after an earlier Apply: the job exists (or was fenced).
		return job, nil
	}
	if err != nil {
		return Job{}, fmt.Errorf("get staging table %s: %w", r.StageTable(), err)
	}
	dest, err := ds.Table(r.Table.Table).Metadata(ctx)
	if err != nil {
		return Job{}, fmt.Errorf("get table %s: %w", r.Table, err)
	}
	q := bq.Query(applyScript(r, stage.Schema, dest))
	q.Parameters = []bigquery.QueryParameter{{Name: "run", Value: r.Run}}
	q.JobID = r.ApplyJobID
	q.Location = location
	q.ProjectID = r.Table.Project
	_, err = q.Run(ctx)
	if isStatus(err, http.StatusConflict) {
		return job, nil // the job exists: a repeated start
	}
	if err != nil {
		return Job{}, fmt.Errorf("start apply job %s into %s: %w", r.ApplyJobID, r.Table, err)
	}
	return job, nil
}

// applyScript is the transaction that replaces the run's rows.
func applyScript(r Request, staged bigquery.Schema, dest *bigquery.TableMetadata) string {
	quote := func(s string) string { return "`" + s + "`" }
	destPath := quote(r.Table.String())
	var cols, vals []string
	if tp := dest.TimePartitioning; tp != nil && tp.Field == "" && len(r.FileDate) == 8 {
		cols = append(cols, "_PARTITIONTIME")
		vals = append(vals, fmt.Sprintf("TIMESTAMP '%s-%s-%s'", r.FileDate[:4], r.FileDate[4:6], r.FileDate[6:]))
	}
	tagged := false
	for _, f := range staged {
		cols = append(cols, quote(f.Name))
		vals = append(vals, quote(f.Name))
		tagged = tagged || strings.EqualFold(f.Name, r.runColumn())
	}
	if !tagged {
		cols = append(cols, quote(r.runColumn()))
		vals = append(vals, "@run")
	}
	return "BEGIN TRANSACTION;\n" +
		"DELETE FROM " + destPath + " WHERE " + quote(r.runColumn()) + " = @run;\n" +
		"INSERT INTO " + destPath + " (" + strings.Join(cols, ", ") + ")\n" +
		"SELECT " + strings.Join(vals, ", ") + " FROM " + quote(r.Table.Project+"."+r.Table.Dataset+"."+r.StageTable()) + ";\n" +
		"COMMIT TRANSACTION;"
}

// DropStage deletes the run's staging table once its rows are applied; one
// already gone is fine.
func DropStage(ctx context.Context, bq *bigquery.Client, r Request) error {
	err := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(r.StageTable()).Delete(ctx)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("drop staging table %s: %w", r.StageTable(), err)
	}
	return nil
}
