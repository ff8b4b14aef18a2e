package bqemu

import (
	"slices"
	"testing"

	"cloud.google.com/go/bigquery"
)

func TestLoadJobIDsListsInsertedLoadJobs(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	l := partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend)
	l.JobID = "load_b"
	e.mustLoad(t, l)
	if _, err := l.Run(e.ctx); err == nil {
		t.Fatal("second insert with the same job ID succeeded")
	}
	l = partitionLoader(e, tbl, "20260427", uri, bigquery.WriteAppend)
	l.JobID = "load_a"
	e.mustLoad(t, l)
	e.count(t, "SELECT COUNT(*) FROM `p.d.sales`") // a query job is not listed
	if got := e.bq.LoadJobIDs(testProject); !slices.Equal(got, []string{"load_a", "load_b"}) {
		t.Fatalf("LoadJobIDs = %v, want [load_a load_b]", got)
	}
	if got := e.bq.LoadJobIDs("other"); len(got) != 0 {
		t.Fatalf("LoadJobIDs(other) = %v, want none", got)
	}
}
