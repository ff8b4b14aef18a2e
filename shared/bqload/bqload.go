// Package bqload runs idempotent BigQuery load jobs: it prepares the
// destination table from the spec's schema, starts a load with a deterministic
// job ID (a repeated start re-attaches to the job), and checks it without waiting.
package bqload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"

	"github.com/dropcast/dropcast/shared/spec"
)

// Table is a destination: project, dataset and table IDs.
type Table struct{ Project, Dataset, Table string }

// ParseTable reads [PROJECT.]DATASET.TABLE, defaulting the project.
func ParseTable(s, defaultProject string) Table {
	p := strings.Split(s, ".")
	if len(p) == 2 {
		return Table{defaultProject, p[0], p[1]}
	}
	return Table{p[0], p[1], p[2]}
}

func (t Table) String() string { return t.Project + "." + t.Dataset + "." + t.Table }

// Request is one load.
type Request struct {
	Table     Table
	Schema    bigquery.Schema
	WriteMode string
	// FileDate (YYYYMMDD) is the partition replace_partition replaces.
	FileDate       string
	PartitionField string
	Clustering     []string
	// SourceURIs are gs:// CSVs with one header row each (wildcards allowed).
	SourceURIs []string
	// JobID is deterministic per run and attempt.
	JobID string
}

// Destination is the table, or its partition for replace_partition, as the job addresses it.
func (r Request) Destination() string {
	if r.WriteMode == spec.ReplacePartition && r.FileDate != "" {
		return r.Table.Table + "$" + r.FileDate
	}
	return r.Table.Table
}

// SchemaError lists how an existing table's schema differs from the spec's.
type SchemaError struct {
	Table       string
	Differences []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("table %s conflicts with the spec's schema: %s", e.Table, strings.Join(e.Differences, "; "))
}

// EnsureTable creates the destination with the spec's schema, partitioning and
// clustering, or checks an existing one: a conflicting schema is a
// *SchemaError; columns the spec adds as NULLABLE are added to the table.
func EnsureTable(ctx context.Context, bq *bigquery.Client, r Request) error {
	t := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(r.Table.Table)
	md, err := t.Metadata(ctx)
	if isStatus(err, http.StatusNotFound) {
		tm := &bigquery.TableMetadata{Schema: r.Schema, TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: r.PartitionField}}
		if len(r.Clustering) > 0 {
			tm.Clustering = &bigquery.Clustering{Fields: r.Clustering}
		}
		err = t.Create(ctx, tm)
		if isStatus(err, http.StatusConflict) {
			return EnsureTable(ctx, bq, r) // created concurrently: check it
		}
		if err != nil {
			return fmt.Errorf("create table %s: %w", r.Table, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get table %s: %w", r.Table, err)
	}
	added, diffs := compare(md.Schema, r.Schema)
	if len(diffs) > 0 {
		return &SchemaError{Table: r.Table.String(), Differences: diffs}
	}
	if len(added) > 0 {
		if _, err := t.Update(ctx, bigquery.TableMetadataToUpdate{Schema: append(slices.Clone(md.Schema), added...)}, md.ETag); err != nil {
			return fmt.Errorf("add columns to %s: %w", r.Table, err)
		}
	}
	return nil
}

// compare returns the spec's fields missing from the table that may be added
// (NULLABLE), and every other difference.
func compare(have, want bigquery.Schema) (added bigquery.Schema, diffs []string) {
	byName := map[string]*bigquery.FieldSchema{}
	for _, f := range have {
		byName[strings.ToLower(f.Name)] = f
	}
	seen := map[string]bool{}
	for _, w := range want {
		seen[strings.ToLower(w.Name)] = true
		h, ok := byName[strings.ToLower(w.Name)]
		switch {
		case !ok && w.Required:
			diffs = append(diffs, fmt.Sprintf("%s: new REQUIRED column (only NULLABLE columns can be added)", w.Name))
		case !ok:
			added = append(added, w)
		case normalType(h.Type) != normalType(w.Type):
			diffs = append(diffs, fmt.Sprintf("%s: table has %s, spec wants %s", w.Name, h.Type, w.Type))
		case h.Required != w.Required:
			diffs = append(diffs, fmt.Sprintf("%s: table has %s, spec wants %s", w.Name, mode(h.Required), mode(w.Required)))
		}
	}
	for _, h := range have {
		if !seen[strings.ToLower(h.Name)] && h.Required {
			diffs = append(diffs, fmt.Sprintf("%s: REQUIRED in the table but not in the spec", h.Name))
		}
	}
	return added, diffs
}

func mode(required bool) string {
	if required {
		return "REQUIRED"
	}
	return "NULLABLE"
}

func normalType(t bigquery.FieldType) bigquery.FieldType {
	switch t {
	case "INT64":
		return bigquery.IntegerFieldType
	case "FLOAT64":
		return bigquery.FloatFieldType
	case "BOOL":
		return bigquery.BooleanFieldType
	}
	return t
}

// Start starts the load job, or re-attaches to it when a job with the same ID
// exists already (BigQuery answers 409).
func Start(ctx context.Context, bq *bigquery.Client, r Request) error {
	gcs := bigquery.NewGCSReference(r.SourceURIs...)
	gcs.SourceFormat = bigquery.CSV
	gcs.SkipLeadingRows = 1
	gcs.AllowQuotedNewlines = true
	gcs.Schema = r.Schema
	l := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(r.Destination()).LoaderFrom(gcs)
	l.JobID = r.JobID
	l.CreateDisposition = bigquery.CreateNever
	l.SchemaUpdateOptions = []string{"ALLOW_FIELD_ADDITION"}
	switch r.WriteMode {
	case spec.Append:
		l.WriteDisposition = bigquery.WriteAppend
	default:
		l.WriteDisposition = bigquery.WriteTruncate
	}
	_, err := l.Run(ctx)
	if isStatus(err, http.StatusConflict) {
		return nil // the job exists: this is a repeated start
	}
	if err != nil {
		return fmt.Errorf("start load job %s into %s: %w", r.JobID, r.Table, err)
	}
	return nil
}

// Status is what one check of a job found.
type Status struct {
	Done bool
	// Rows is the number of rows loaded, once done.
	Rows int64
	// Err is the job's failure, with BigQuery's reasons and locations.
	Err error
}

// Check looks at a job once.
func Check(ctx context.Context, bq *bigquery.Client, project, jobID string) (Status, error) {
	job, err := bq.JobFromProject(ctx, project, jobID, "")
	if err != nil {
		return Status{}, fmt.Errorf("get job %s: %w", jobID, err)
	}
	st := job.LastStatus()
	if st == nil || !st.Done() {
		return Status{}, nil
	}
	if st.Err() != nil {
		return Status{Done: true, Err: jobError(jobID, st)}, nil
	}
	var rows int64
	if ls, ok := st.Statistics.Details.(*bigquery.LoadStatistics); ok {
		rows = ls.OutputRows
	}
	return Status{Done: true, Rows: rows}, nil
}

func jobError(jobID string, st *bigquery.JobStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "BigQuery job %s failed: %s", jobID, describe(st.Err()))
	for _, e := range st.Errors {
		if e == nil || e.Message == st.Err().Error() {
			continue
		}
		fmt.Fprintf(&b, "; %s", describe(e))
	}
	return errors.New(b.String())
}

func describe(err error) string {
	var e *bigquery.Error
	if errors.As(err, &e) {
		s := e.Message
		if e.Reason != "" {
			s = e.Reason + ": " + s
		}
		if e.Location != "" {
			s += " (at " + e.Location + ")"
		}
		return s
	}
	return err.Error()
}

func isStatus(err error, code int) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == code
}
