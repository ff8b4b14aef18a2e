package bqemu

import (
	"errors"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

var salesSchema = bigquery.Schema{
	{Name: "id", Type: bigquery.IntegerFieldType, Required: true},
	{Name: "name", Type: bigquery.StringFieldType},
	{Name: "price", Type: bigquery.IntegerFieldType},
}

// salesEnv creates dataset d and the ingestion-time partitioned, clustered
// table d.sales, plus two CSV files (three data rows, one header each).
func salesEnv(t *testing.T) (*env, *bigquery.Table, string) {
	t.Helper()
	e := newEnv(t, 0)
	ds := e.dataset(t, "d")
	tbl := ds.Table("sales")
	err := tbl.Create(e.ctx, &bigquery.TableMetadata{
		Schema:           salesSchema,
		TimePartitioning: &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType},
		Clustering:       &bigquery.Clustering{Fields: []string{"name"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "clean/run1/part-000.csv", "id,name,price\n1,apple,10\n2,pear,20\n")
	e.put(t, "clean/run1/part-001.csv", "id,name,price\n3,\"plum, red\",30\n")
	e.put(t, "other/part-999.csv", "id,name,price\n99,nope,1\n")
	return e, tbl, "gs://b/clean/run1/part-*"
}

func partitionLoader(e *env, tbl *bigquery.Table, part, uri string, wd bigquery.TableWriteDisposition) *bigquery.Loader {
	l := e.c.Dataset(tbl.DatasetID).Table(tbl.TableID + "$" + part).LoaderFrom(csvRef(uri, 1, nil))
	l.WriteDisposition = wd
	return l
}

func TestPartitionDecoratorDispositions(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	other := e.mustLoad(t, partitionLoader(e, tbl, "20260427", uri, bigquery.WriteTruncate))
	for i := 0; i < 2; i++ {
		st := e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteTruncate))
		stats := st.Statistics.Details.(*bigquery.LoadStatistics)
		if stats.OutputRows != 3 || stats.InputFiles != 2 {
			t.Fatalf("truncate %d stats: rows %d files %d, want 3 and 2", i, stats.OutputRows, stats.InputFiles)
		}
	}
	if got := len(e.readAll(t, e.c.Dataset("d").Table("sales$20260426"))); got != 3 {
		t.Fatalf("after two WRITE_TRUNCATE loads the partition has %d rows, want 3", got)
	}
	for i := 0; i < 2; i++ {
		e.mustLoad(t, partitionLoader(e, tbl, "20260428", uri, bigquery.WriteAppend))
	}
	if got := len(e.readAll(t, e.c.Dataset("d").Table("sales$20260428"))); got != 6 {
		t.Fatalf("after two WRITE_APPEND loads the partition has %d rows, want 6", got)
	}
	rows, err := e.bq.Rows(testProject, "d", "sales$20260427")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || other.Statistics.Details.(*bigquery.LoadStatistics).OutputRows != 3 {
		t.Fatalf("untouched partition has %d rows, want 3", len(rows))
	}
	if got := *rows[2].Values[1]; got != "plum, red" {
		t.Fatalf("quoted field = %q, want %q", got, "plum, red")
	}
	all := e.readAll(t, tbl)
	if len(all) != 12 {
		t.Fatalf("table has %d rows, want 12", len(all))
	}
	md, err := tbl.Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.NumRows != 12 || md.TimePartitioning == nil || md.TimePartitioning.Field != "" || md.Clustering == nil || md.Clustering.Fields[0] != "name" {
		t.Fatalf("metadata: rows %d partitioning %+v clustering %+v", md.NumRows, md.TimePartitioning, md.Clustering)
	}

	// Partition pseudo-columns in queries.
	for sql, want := range map[string]int64{
		"SELECT COUNT(*) FROM `p.d.sales`":                                                  12,
		"SELECT COUNT(*) FROM d.sales WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')":       3,
		"SELECT COUNT(*) FROM `p.d.sales` WHERE _PARTITIONDATE = '2026-04-28'":              6,
		"SELECT COUNT(*) FROM d.sales WHERE DATE(_PARTITIONTIME) = '2026-04-27' AND id = 1": 1,
		"SELECT COUNT(*) FROM d.sales WHERE _PARTITIONTIME = TIMESTAMP('2026-04-25')":       0,
	} {
		if got := e.count(t, sql); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
}

func TestWriteEmptyAndCreateNever(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteEmpty))
	st := e.load(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteEmpty))
	if err := jobErr(st); err == nil || err.Reason != "duplicate" || !strings.Contains(err.Message, "Already Exists: Table p:d.sales") {
		t.Fatalf("WRITE_EMPTY on a filled partition: got %v, want duplicate Already Exists", st.Err())
	}
	e.mustLoad(t, partitionLoader(e, tbl, "20260427", uri, bigquery.WriteEmpty))

	l := e.c.Dataset("d").Table("missing").LoaderFrom(csvRef(uri, 1, salesSchema))
	l.CreateDisposition = bigquery.CreateNever
	st = e.load(t, l)
	if err := jobErr(st); err == nil || err.Reason != "notFound" || err.Message != "Not found: Table p:d.missing" {
		t.Fatalf("CREATE_NEVER: got %v, want notFound", st.Err())
	}
	l = e.c.Dataset("d").Table("created").LoaderFrom(csvRef(uri, 1, salesSchema))
	e.mustLoad(t, l)
	if got := len(e.readAll(t, e.c.Dataset("d").Table("created"))); got != 3 {
		t.Fatalf("CREATE_IF_NEEDED table has %d rows, want 3", got)
	}
	l = e.c.Dataset("d").Table("nosource").LoaderFrom(csvRef("gs://b/nothing/here-*", 1, salesSchema))
	st = e.load(t, l)
	if err := jobErr(st); err == nil || err.Reason != "notFound" || !strings.Contains(err.Message, "gs://b/nothing/here-*") {
		t.Fatalf("unmatched wildcard: got %v, want notFound", st.Err())
	}
}

func TestSchemaConflictAndFieldAddition(t *testing.T) {
	e, tbl, _ := salesEnv(t)
	uri := e.put(t, "wide.csv", "1,apple,10,green,x\n")
	wide := bigquery.Schema{
		{Name: "id", Type: bigquery.IntegerFieldType, Required: true},
		{Name: "name", Type: bigquery.StringFieldType},
		{Name: "price", Type: bigquery.IntegerFieldType},
		{Name: "color", Type: bigquery.StringFieldType},
		{Name: "grade", Type: bigquery.StringFieldType},
	}
	st := e.load(t, tbl.LoaderFrom(csvRef(uri, 0, wide)))
	err := jobErr(st)
	if err == nil || err.Reason != "invalid" || !strings.Contains(err.Message, "Cannot add fields (field: color, field: grade)") {
		t.Fatalf("field addition without option: got %v", st.Err())
	}
	retyped := bigquery.Schema{salesSchema[0], salesSchema[1], {Name: "price", Type: bigquery.StringFieldType}}
	st = e.load(t, tbl.LoaderFrom(csvRef(uri, 0, retyped)))
	if err := jobErr(st); err == nil || !strings.Contains(err.Message, "Field price has changed type from INTEGER to STRING") {
		t.Fatalf("type change: got %v", st.Err())
	}

	l := tbl.LoaderFrom(csvRef(uri, 0, wide))
	l.SchemaUpdateOptions = []string{"ALLOW_FIELD_ADDITION"}
	e.mustLoad(t, l)
	md, err2 := tbl.Metadata(e.ctx)
	if err2 != nil {
		t.Fatal(err2)
	}
	if len(md.Schema) != 5 || md.Schema[3].Name != "color" || md.Schema[3].Required {
		t.Fatalf("schema after addition: %+v", md.Schema)
	}

	// tables.patch follows the same rules.
	if _, err := tbl.Update(e.ctx, bigquery.TableMetadataToUpdate{Schema: append(md.Schema, &bigquery.FieldSchema{Name: "note", Type: bigquery.StringFieldType})}, md.ETag); err != nil {
		t.Fatalf("add nullable column: %v", err)
	}
	_, err2 = tbl.Update(e.ctx, bigquery.TableMetadataToUpdate{Schema: bigquery.Schema{salesSchema[0], salesSchema[1]}}, "")
	var gerr *googleapi.Error
	if !errors.As(err2, &gerr) || gerr.Code != 400 || gerr.Errors[0].Reason != "invalid" || !strings.Contains(gerr.Message, "Field price is missing in new schema") {
		t.Fatalf("drop column: got %v, want 400 invalid", err2)
	}
	_, err2 = tbl.Update(e.ctx, bigquery.TableMetadataToUpdate{Description: "x"}, "stale-etag")
	if !errors.As(err2, &gerr) || gerr.Code != 412 {
		t.Fatalf("stale etag: got %v, want 412", err2)
	}
	rows, err3 := e.bq.Rows(testProject, "d", "sales")
	if err3 != nil {
		t.Fatal(err3)
	}
	if len(rows) != 1 || len(rows[0].Values) != 6 || *rows[0].Values[3] != "green" || rows[0].Values[5] != nil {
		t.Fatalf("rows after evolution: %+v", rows)
	}
}

func TestBadRowsAndMaxBadRecords(t *testing.T) {
	e, tbl, _ := salesEnv(t)
	uri := e.put(t, "dirty.csv", "id,name,price\n1,apple,10\n2,pear,abc\n3,plum,30\n")
	ref := csvRef(uri, 1, nil)
	st := e.load(t, tbl.LoaderFrom(ref))
	err := jobErr(st)
	if err == nil || err.Reason != "invalid" || err.Location != uri ||
		err.Message != "Error while reading data, error message: CSV table encountered too many errors, giving up. Rows: 2; errors: 1. Please look into the errors[] collection for more details." {
		t.Fatalf("maxBadRecords 0: got %+v", err)
	}
	if len(st.Errors) != 2 || st.Errors[1].Location != uri ||
		!strings.HasPrefix(st.Errors[1].Message, "Error while reading data, error message: Could not parse 'abc' as INT64 for field price (position 2) starting at location 25") {
		t.Fatalf("row errors: %+v", st.Errors)
	}
	if rows, _ := e.bq.Rows(testProject, "d", "sales"); len(rows) != 0 {
		t.Fatalf("failed load wrote %d rows", len(rows))
	}

	ref.MaxBadRecords = 1
	st = e.mustLoad(t, tbl.LoaderFrom(ref))
	if st.Statistics.Details.(*bigquery.LoadStatistics).OutputRows != 2 || len(st.Errors) != 1 {
		t.Fatalf("maxBadRecords 1: stats %+v errors %v", st.Statistics.Details, st.Errors)
	}
	got := e.readAll(t, tbl)
	if len(got) != 2 || got[0][0] != int64(1) || got[1][0] != int64(3) {
		t.Fatalf("rows = %v, want ids 1 and 3", got)
	}

	for name, content := range map[string]string{
		"short.csv":    "1,apple\n",
		"long.csv":     "1,apple,10,extra\n",
		"required.csv": ",apple,10\n",
	} {
		st := e.load(t, tbl.LoaderFrom(csvRef(e.put(t, name, content), 0, nil)))
		if err := jobErr(st); err == nil || len(st.Errors) != 2 || st.Errors[1].Reason != "invalid" {
			t.Errorf("%s: got %v / %v, want a failed job with one row error", name, st.Err(), st.Errors)
		}
	}
}

func TestColumnPartitionedAndTypes(t *testing.T) {
	e := newEnv(t, 0)
	ds := e.dataset(t, "d")
	schema := bigquery.Schema{
		{Name: "day", Type: bigquery.DateFieldType},
		{Name: "at", Type: bigquery.TimestampFieldType},
		{Name: "local", Type: bigquery.DateTimeFieldType},
		{Name: "ok", Type: bigquery.BooleanFieldType},
		{Name: "amount", Type: bigquery.NumericFieldType},
		{Name: "ratio", Type: bigquery.FloatFieldType},
		{Name: "note", Type: bigquery.StringFieldType},
	}
	tbl := ds.Table("events")
	if err := tbl.Create(e.ctx, &bigquery.TableMetadata{Schema: schema, TimePartitioning: &bigquery.TimePartitioning{Field: "day"}}); err != nil {
		t.Fatal(err)
	}
	uri := e.put(t, "events.psv", "day|at|local|ok|amount|ratio|note\n"+
		"2026-04-26|2026-04-26 23:30:00+02:00|2026-04-26 10:00:00|yes|12.50|0.25|'multi\nline'\n"+
		"2026-04-27|2026-04-27T00:00:00.5Z|2026-04-27 01:02:03.000004|FALSE|-3|1e3|'it''s'\n"+
		"|||||| \n")
	ref := csvRef(uri, 1, nil)
	ref.FieldDelimiter = "|"
	ref.Quote = "'"
	ref.AllowQuotedNewlines = true
	e.mustLoad(t, tbl.LoaderFrom(ref))
	rows, err := e.bq.Rows(testProject, "d", "events")
	if err != nil {
		t.Fatal(err)
	}
	wantParts := []string{"20260426", "20260427", "__NULL__"}
	for i, r := range rows {
		if r.Partition != wantParts[i] {
			t.Errorf("row %d partition %q, want %q", i, r.Partition, wantParts[i])
		}
	}
	want := [][]string{
		{"2026-04-26", "2026-04-26 21:30:00 UTC", "2026-04-26T10:00:00", "true", "12.5", "0.25", "multi\nline"},
		{"2026-04-27", "2026-04-27 00:00:00.5 UTC", "2026-04-27T01:02:03.000004", "false", "-3", "1000", "it's"},
	}
	for i, w := range want {
		for k, v := range w {
			if got := rows[i].Values[k]; got == nil || *got != v {
				t.Errorf("row %d col %s = %v, want %q", i, schema[k].Name, got, v)
			}
		}
	}
	for k := 0; k < 6; k++ {
		if rows[2].Values[k] != nil {
			t.Errorf("row 2 col %s = %q, want NULL", schema[k].Name, *rows[2].Values[k])
		}
	}
	// Typed values survive the wire round trip through the real client.
	typed := e.readAll(t, tbl)
	if typed[0][3] != true || typed[1][5] != 1000.0 || typed[2][0] != nil {
		t.Fatalf("typed rows: %v", typed)
	}

	// A decorated load with a row of another partition fails and changes nothing.
	bad := e.put(t, "bad.csv", "2026-04-26,,,,,,a\n2026-04-28,,,,,,b\n")
	st := e.load(t, e.c.Dataset("d").Table("events$20260426").LoaderFrom(csvRef(bad, 0, nil)))
	if err := jobErr(st); err == nil || err.Message != "Some rows belong to different partitions rather than destination partition 20260426" {
		t.Fatalf("foreign-partition row: got %v", st.Err())
	}
	if got := e.count(t, "SELECT COUNT(*) FROM d.events WHERE day = '2026-04-26'"); got != 1 {
		t.Fatalf("partition 20260426 has %d rows after a failed load, want 1", got)
	}
	if got := e.count(t, "SELECT COUNT(*) FROM d.events WHERE day IS NULL"); got != 1 {
		t.Fatalf("NULL partition has %d rows, want 1", got)
	}
}

// jobErr is the job's errorResult as a *bigquery.Error, or nil.
func jobErr(st *bigquery.JobStatus) *bigquery.Error {
	var be *bigquery.Error
	if errors.As(st.Err(), &be) {
		return be
	}
	return nil
}
