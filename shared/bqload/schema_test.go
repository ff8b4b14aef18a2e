package bqload

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/shared/spec"
)

// create makes d.t with schema, partitioned by ingestion day unless tp says otherwise.
func (e *env) create(t *testing.T, schema bigquery.Schema, tp *bigquery.TimePartitioning) {
	t.Helper()
	if tp == nil {
		tp = &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType}
	}
	if err := e.bq.Dataset("d").Table("t").Create(e.ctx, &bigquery.TableMetadata{Schema: schema, TimePartitioning: tp}); err != nil {
		t.Fatal(err)
	}
}

func TestConflictingTableListsEveryDifferenceAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, bigquery.Schema{
		{Name: "id", Type: bigquery.StringFieldType, Required: true},
		{Name: "day", Type: bigquery.DateFieldType, Required: true},
		{Name: "note", Type: bigquery.StringFieldType, Required: true},
		{Name: "owner", Type: bigquery.StringFieldType, Required: true},
	}, &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "day"})
	uri := e.put(t, "a/part-00000.csv", fileA)
	_, err := Load(e.ctx, e.bq, request(spec.ReplacePartition, "20260426", "j", uri))
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a *SchemaError", err)
	}
	want := []string{
		"partitioning: table has DAY(day), spec wants DAY(_PARTITIONTIME)",
		"id: table has STRING, spec wants INT64",
		"note: table has REQUIRED, spec allows empty values (NULLABLE)",
		"owner: REQUIRED in the table but not in the spec",
	}
	if !slices.Equal(se.Differences, want) {
		t.Fatalf("differences:\n%s\nwant:\n%s", strings.Join(se.Differences, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "table p.d.t conflicts with the spec: partitioning: ") {
		t.Errorf("message %q", err)
	}
	if ids := e.emu.LoadJobIDs(project); len(ids) != 0 {
		t.Errorf("a conflicting table got load jobs %v", ids)
	}
}

func TestMissingColumnsAreAddedNullableAndLoaded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, specSchema[1:2], nil) // day only
	uri := e.put(t, "a/part-00000.csv", fileA)
	e.mustRun(t, request(spec.ReplacePartition, "20260426", "j", uri))
	md, err := e.bq.Dataset("d").Table("t").Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(md.Schema); !slices.Equal(got, []string{"day", "id", "note"}) {
		t.Fatalf("columns %v, want id and note added", got)
	}
	if md.Schema[1].Required {
		t.Fatal("the spec's REQUIRED id was added as REQUIRED; BigQuery adds only NULLABLE columns")
	}
	if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t` WHERE note = 'b, quoted'"); n != 1 {
		t.Fatalf("the new column holds %d matching rows, want 1", n)
	}
}

func TestTableOnlyNullableColumnsStayNullAndLooserModesFit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// channel is the table's own column; id is NULLABLE and INTEGER there.
	e.create(t, bigquery.Schema{
		{Name: "channel", Type: bigquery.StringFieldType},
		{Name: "ID", Type: bigquery.IntegerFieldType, Description: "purchase id"},
		{Name: "day", Type: bigquery.DateFieldType, Required: true},
		{Name: "note", Type: bigquery.StringFieldType},
	}, nil)
	uri := e.put(t, "a/part-00000.csv", fileA)
	for _, mode := range []string{spec.ReplacePartition, spec.Append, spec.Truncate} {
		if rows := e.mustRun(t, request(mode, "20260426", "j_"+mode, uri)); rows != 3 {
			t.Fatalf("%s loaded %d rows, want 3", mode, rows)
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t` WHERE channel IS NULL"); n != 3 {
		t.Fatalf("%d rows with channel NULL, want 3", n)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t` WHERE ID = 2"); n != 1 {
		t.Fatalf("%d rows with ID 2, want 1", n)
	}
	md, err := e.bq.Dataset("d").Table("t").Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*bigquery.FieldSchema{}
	for _, f := range md.Schema {
		got[f.Name] = f
	}
	if len(md.Schema) != 4 || got["channel"] == nil || got["ID"] == nil || got["ID"].Required || got["ID"].Description != "purchase id" {
		t.Fatalf("after a truncate load the table's own columns changed: %v", names(md.Schema))
	}
}

func TestFitPartitioning(t *testing.T) {
	day := bigquery.DayPartitioningType
	for _, c := range []struct {
		tp    *bigquery.TimePartitioning
		field string
		want  string
	}{
		{&bigquery.TimePartitioning{Type: day}, "", ""},
		{&bigquery.TimePartitioning{Type: day, Field: "Day"}, "day", ""},
		{nil, "", "partitioning: table is not partitioned by time, spec wants DAY(_PARTITIONTIME)"},
		{&bigquery.TimePartitioning{Type: bigquery.MonthPartitioningType, Field: "day"}, "day", "partitioning: table has MONTH(day), spec wants DAY(day)"},
		{&bigquery.TimePartitioning{Type: day}, "day", "partitioning: table has DAY(_PARTITIONTIME), spec wants DAY(day)"},
	} {
		if got := partitionDiff(c.tp, c.field); got != c.want {
			t.Errorf("partitionDiff(%+v, %q) = %q, want %q", c.tp, c.field, got, c.want)
		}
	}
}
