package bqload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

// Target is what a load into the prepared destination must use.
type Target struct {
	// Schema reads the CSV: the spec's columns, then any NULLABLE columns
	// only the table has (left NULL).
	Schema bigquery.Schema
	// Jagged is set when the table has such columns: rows may lack them.
	Jagged bool
	// Location is the dataset's location; the job runs and is polled there.
	Location string
	// Stage, when the request replaces its run's rows, is the staging
	// table's schema: the spec's columns as the destination has them.
	Stage bigquery.Schema
}

// prepare creates the destination with the spec's schema, DAY partitioning
// and clustering, or fits the spec to an existing table: a conflict is a
// *SchemaError listing every difference (nothing is changed); spec columns
// the table lacks are added to it, NULLABLE. It returns what the load must use.
func prepare(ctx context.Context, bq *bigquery.Client, r Request) (Target, error) {
	if err := r.Validate(); err != nil {
		return Target{}, err
	}
	spec := r.Schema
	if r.ReplacesRun() {
		r.Schema = r.withRunColumn() // the destination carries the run's tag
	}
	t := bq.DatasetInProject(r.Table.Project, r.Table.Dataset).Table(r.Table.Table)
	for range 3 {
		md, err := t.Metadata(ctx)
		if isStatus(err, http.StatusNotFound) {
			if err := create(ctx, t, r); err != nil {
				return Target{}, err
			}
			continue // read back what exists now, ours or a concurrent creator's
		}
		if err != nil {
			return Target{}, fmt.Errorf("get table %s: %w", r.Table, err)
		}
		p := fit(md, r)
		if len(p.diffs) > 0 {
			return Target{}, &SchemaError{Table: r.Table.String(), Differences: p.diffs}
		}
		if len(p.added) > 0 {
			upd := bigquery.TableMetadataToUpdate{Schema: append(slices.Clone(md.Schema), p.added...)}
			if _, err := t.Update(ctx, upd, md.ETag); err != nil {
				return Target{}, fmt.Errorf("add columns %v to %s: %w", names(p.added), r.Table, err)
			}
		}
		tg := Target{Schema: p.load, Jagged: p.extra > 0, Location: md.Location}
		if r.ReplacesRun() {
			tg.Stage = p.load[:len(spec)]
			if err := createStage(ctx, bq, r, tg.Stage); err != nil {
				return Target{}, err
			}
		}
		return tg, nil
	}
	return Target{}, fmt.Errorf("table %s: created but not found", r.Table)
}

// create makes the table; one that exists already (created concurrently) is
// success.
func create(ctx context.Context, t *bigquery.Table, r Request) error {
	tm := &bigquery.TableMetadata{
		Schema:           r.Schema,
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: r.PartitionField},
	}
	if len(r.Clustering) > 0 {
		tm.Clustering = &bigquery.Clustering{Fields: r.Clustering}
	}
	err := t.Create(ctx, tm)
	if err != nil && !isStatus(err, http.StatusConflict) {
		return fmt.Errorf("create table %s: %w", r.Table, err)
	}
	return nil
}

func names(s bigquery.Schema) []string {
	out := make([]string, len(s))
	for i, f := range s {
		out[i] = f.Name
	}
	return out
}

func isStatus(err error, code int) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == code
}
