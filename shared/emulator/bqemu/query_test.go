package bqemu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

func TestQuerySubset(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	e.mustLoad(t, partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend))
	e.mustLoad(t, partitionLoader(e, tbl, "20260427", uri, bigquery.WriteAppend))

	rows := e.queryRows(t, "SELECT name, price FROM d.sales WHERE _PARTITIONTIME = TIMESTAMP('2026-04-27') ORDER BY price DESC")
	if len(rows) != 3 || rows[0][0] != "plum, red" || rows[0][1] != int64(30) || rows[2][0] != "apple" {
		t.Fatalf("ordered select: %v", rows)
	}
	rows = e.queryRows(t, "select * from `p.d.sales` where name = 'pear' and price = 20")
	if len(rows) != 2 || len(rows[0]) != 3 || rows[0][0] != int64(2) {
		t.Fatalf("select *: %v", rows)
	}
	q := e.c.Query("SELECT COUNT(*) AS n FROM sales WHERE id = 1")
	q.DefaultDatasetID = "d"
	it, err := q.Read(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, it)
	if len(got) != 1 || got[0][0] != int64(2) || it.Schema[0].Name != "n" || it.Schema[0].Type != bigquery.IntegerFieldType {
		t.Fatalf("COUNT AS n: %v schema %v", got, it.Schema)
	}

	// A constant query has one row and no table (GoogleSQL names an
	// unaliased column f0_).
	if rows := e.queryRows(t, "SELECT 1"); len(rows) != 1 || rows[0][0] != int64(1) {
		t.Fatalf("SELECT 1: %v", rows)
	}

	for sql, want := range map[string]string{
		"SELECT 1, 2": "Unsupported by the emulator",
		"SELECT name, COUNT(*) FROM d.sales GROUP BY name": "Unsupported by the emulator",
		"SELECT * FROM d.sales WHERE price > 10":           "Unsupported by the emulator",
		"SELECT * FROM d.sales WHERE price = 'x'":          "No matching signature for operator = for argument types: INT64, STRING",
		"SELECT nope FROM d.sales":                         "Unrecognized name: nope",
		"SELECT * FROM d.missing":                          "Not found: Table p:d.missing",
		"SELECT * FROM sales":                              "must be qualified with a dataset",
		"SELECT UPPER(name) FROM d.sales":                  "Unsupported by the emulator",
	} {
		_, err := e.c.Query(sql).Read(e.ctx)
		var gerr *googleapi.Error
		if !errors.As(err, &gerr) || (gerr.Code != 400 && gerr.Code != 404) || !strings.Contains(gerr.Message, want) {
			t.Errorf("%s: got %v, want 4xx containing %q", sql, err, want)
		}
	}
}

// TestQueryJobPath drives jobs.insert + getQueryResults (a fixed job ID
// disables the client's jobs.query fast path) with job latency and paging.
func TestQueryJobPath(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond)
	e.dataset(t, "d")
	uri := e.put(t, "many.csv", "1,a,1\n2,b,2\n3,c,3\n4,d,4\n5,e,5\n")
	e.mustLoad(t, e.c.Dataset("d").Table("t").LoaderFrom(csvRef(uri, 0, salesSchema)))

	q := e.c.Query("SELECT id FROM d.t ORDER BY id DESC")
	q.JobID = "query-1"
	job, err := q.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if job.LastStatus().State == bigquery.Done {
		t.Fatal("query job DONE at insert despite latency")
	}
	it, err := job.Read(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	it.PageInfo().MaxSize = 2
	rows := drain(t, it)
	if len(rows) != 5 || rows[0][0] != int64(5) || rows[4][0] != int64(1) || it.TotalRows != 5 {
		t.Fatalf("query rows %v total %d", rows, it.TotalRows)
	}
	st, err := job.Wait(e.ctx)
	if err != nil || st.Err() != nil {
		t.Fatalf("wait: %v %v", err, st.Err())
	}

	q = e.c.Query("SELECT id FROM d.t WHERE id > 1")
	q.JobID = "query-bad"
	job, err = q.Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Like BigQuery, getQueryResults answers a failed query with its error,
	// so Wait fails; jobs.get carries the errorResult.
	var gerr *googleapi.Error
	if _, err := job.Wait(e.ctx); !errors.As(err, &gerr) || gerr.Code != 400 || !strings.Contains(gerr.Message, "Unsupported by the emulator") {
		t.Fatalf("wait on unsupported query: %v", err)
	}
	st, err = job.Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if be := jobErr(st); be == nil || be.Reason != "invalid" || !strings.Contains(be.Message, "Unsupported by the emulator") {
		t.Fatalf("unsupported query job: %v", st.Err())
	}
}
