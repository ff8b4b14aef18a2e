// Package bqload runs idempotent BigQuery load jobs: it prepares the
// destination table from the spec's schema (creating it, adding new NULLABLE
// columns, refusing conflicts before any data moves), starts one load with a
// deterministic job ID (a repeated start re-attaches to the job), and checks
// it without waiting.
//
// Write modes, for a table partitioned by day:
//   - replace_partition: WRITE_TRUNCATE into table$FILEDATE — the file's
//     date partition ends up holding exactly this load's rows. On a
//     column-partitioned table every row must belong to that day, or
//     BigQuery fails the job and nothing changes.
//   - truncate: WRITE_TRUNCATE into the table — it holds exactly this load.
//   - append: the rows are added to the table — into the file's day when the
//     table is partitioned by ingestion time, else by their partitioning
//     column. With Request.Run set (what the pipeline does), an append
//     replaces the rows an earlier load of the same run left, so a rerun,
//     a backfill or a redelivery never adds a run's rows twice: the load
//     goes into a staging table with WRITE_TRUNCATE, then one query job
//     with a deterministic ID deletes the run's rows and inserts the staged
//     ones in one transaction (see replace.go). Without Run: WRITE_APPEND,
//     into table$FILEDATE when the table is partitioned by ingestion time.
package bqload

import (
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"

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
	// FileDate (YYYYMMDD) is the partition replace_partition replaces and
	// append adds to.
	FileDate       string
	PartitionField string
	Clustering     []string
	// SourceURIs are gs:// CSVs with one header row each (wildcards allowed),
	// with the spec's columns in the spec's order.
	SourceURIs []string
	// JobID is deterministic per run and attempt.
	JobID string
	// Run, in append mode, tags the rows with the run they came from: the
	// load replaces the rows tagged Run instead of adding them again (see
	// replace.go). RunColumn names the tag column (default RunTagColumn,
	// added to the table when the spec lacks it); ApplyJobID is the
	// deterministic ID of the query job that applies the staged rows, the
	// same for every retry of the run's epoch.
	Run        string
	RunColumn  string
	ApplyJobID string
}

// ErrInvalidRequest marks a request no retry can make valid.
var ErrInvalidRequest = errors.New("invalid load request")

// Validate rejects requests that would load the wrong thing: an unknown
// write mode, or replace_partition without a date (it would truncate the
// whole table).
func (r Request) Validate() error {
	switch {
	case r.WriteMode != spec.ReplacePartition && r.WriteMode != spec.Truncate && r.WriteMode != spec.Append:
		return fmt.Errorf("%w: write mode %q (want %s, %s or %s)", ErrInvalidRequest, r.WriteMode, spec.ReplacePartition, spec.Truncate, spec.Append)
	case r.WriteMode == spec.ReplacePartition && r.FileDate == "":
		return fmt.Errorf("%w: %s needs the file's date, and the object name gave none", ErrInvalidRequest, spec.ReplacePartition)
	case r.Table.Project == "" || r.Table.Dataset == "" || r.Table.Table == "":
		return fmt.Errorf("%w: destination %q is not PROJECT.DATASET.TABLE", ErrInvalidRequest, r.Table)
	case len(r.SourceURIs) == 0 || r.JobID == "":
		return fmt.Errorf("%w: no source URIs or no job ID", ErrInvalidRequest)
	case r.Run != "" && r.WriteMode == spec.Append && r.ApplyJobID == "":
		return fmt.Errorf("%w: an append that replaces its run's rows needs the apply job's ID", ErrInvalidRequest)
	}
	return nil
}

// Destination is the table, or its partition, as the job addresses it.
func (r Request) Destination() string {
	switch {
	case r.FileDate == "":
	case r.WriteMode == spec.ReplacePartition,
		r.WriteMode == spec.Append && r.PartitionField == "":
		return r.Table.Table + "$" + r.FileDate
	}
	return r.Table.Table
}

// disposition is the job's write disposition for the request's mode.
func (r Request) disposition() bigquery.TableWriteDisposition {
	if r.WriteMode == spec.Append {
		return bigquery.WriteAppend
	}
	return bigquery.WriteTruncate
}
