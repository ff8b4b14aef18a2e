package bqload

import (
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
)

// SchemaError lists how an existing table differs from the spec in ways a
// load cannot bridge.
type SchemaError struct {
	Table       string
	Differences []string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("table %s conflicts with the spec: %s", e.Table, strings.Join(e.Differences, "; "))
}

// plan is how a load fits an existing table.
type plan struct {
	// load is the schema the CSV is read with: the spec's columns in file
	// order (with the table's spelling, type, mode and description), then the
	// table's other columns, which the files lack and the load leaves NULL.
	load bigquery.Schema
	// extra counts those trailing table-only columns.
	extra int
	// added are the spec's columns the table lacks, as NULLABLE.
	added bigquery.Schema
	// diffs are the conflicts; when there are any the load must not run.
	diffs []string
}

// fit compares an existing table with the request. Compatible: the same
// types (INT64 = INTEGER…); a spec REQUIRED column the table has NULLABLE
// (the cleaner guarantees the values); spec columns the table lacks (added
// NULLABLE, REQUIRED ones too: BigQuery cannot add REQUIRED columns, and old
// rows have no value); NULLABLE columns only the table has (left NULL).
// Conflicts: other types, a table REQUIRED column the spec allows empty,
// REQUIRED or nested table-only columns, other partitioning.
func fit(md *bigquery.TableMetadata, r Request) plan {
	var p plan
	if d := partitionDiff(md.TimePartitioning, r.PartitionField); d != "" {
		p.diffs = append(p.diffs, d)
	}
	byName := map[string]*bigquery.FieldSchema{}
	for _, f := range md.Schema {
		byName[strings.ToLower(f.Name)] = f
	}
	inSpec := map[string]bool{}
	for _, w := range r.Schema {
		inSpec[strings.ToLower(w.Name)] = true
		h, ok := byName[strings.ToLower(w.Name)]
		switch {
		case !ok:
			f := *w
			f.Required = false // BigQuery adds only NULLABLE columns: old rows have none
			p.added = append(p.added, &f)
			p.load = append(p.load, &f)
		case h.Repeated || h.Type == bigquery.RecordFieldType:
			p.diffs = append(p.diffs, fmt.Sprintf("%s: table has a %s column, which CSV cannot load", h.Name, shape(h)))
		case normalType(h.Type) != normalType(w.Type):
			p.diffs = append(p.diffs, fmt.Sprintf("%s: table has %s, spec wants %s", w.Name, h.Type, w.Type))
		case h.Required && !w.Required:
			p.diffs = append(p.diffs, fmt.Sprintf("%s: table has REQUIRED, spec allows empty values (NULLABLE)", w.Name))
		default:
			f := *h
			p.load = append(p.load, &f)
		}
	}
	for _, h := range md.Schema {
		if inSpec[strings.ToLower(h.Name)] {
			continue
		}
		switch {
		case h.Required:
			p.diffs = append(p.diffs, fmt.Sprintf("%s: REQUIRED in the table but not in the spec", h.Name))
		case h.Repeated || h.Type == bigquery.RecordFieldType:
			p.diffs = append(p.diffs, fmt.Sprintf("%s: table has a %s column, which CSV cannot load", h.Name, shape(h)))
		default:
			f := *h
			p.load = append(p.load, &f)
			p.extra++
		}
	}
	return p
}

// partitionDiff describes how the table's partitioning differs from the
// spec's (DAY, on field or on ingestion time), or "".
func partitionDiff(tp *bigquery.TimePartitioning, field string) string {
	want := "DAY(_PARTITIONTIME)"
	if field != "" {
		want = "DAY(" + field + ")"
	}
	switch {
	case tp == nil:
		return "partitioning: table is not partitioned by time, spec wants " + want
	case tp.Type != "" && tp.Type != bigquery.DayPartitioningType:
		return fmt.Sprintf("partitioning: table has %s(%s), spec wants %s", tp.Type, orIngestion(tp.Field), want)
	case !strings.EqualFold(tp.Field, field):
		return fmt.Sprintf("partitioning: table has DAY(%s), spec wants %s", orIngestion(tp.Field), want)
	}
	return ""
}

func orIngestion(field string) string {
	if field == "" {
		return "_PARTITIONTIME"
	}
	return field
}

func shape(f *bigquery.FieldSchema) string {
	if f.Repeated {
		return "REPEATED " + string(f.Type)
	}
	return string(f.Type)
}

func normalType(t bigquery.FieldType) bigquery.FieldType {
	switch t {
	case "INT64":
		return bigquery.IntegerFieldType
	case "FLOAT64":
		return bigquery.FloatFieldType
	case "BOOL":
		return bigquery.BooleanFieldType
	case "STRUCT":
		return bigquery.RecordFieldType
	case "BIGDECIMAL":
		return bigquery.BigNumericFieldType
	}
	return t
}
