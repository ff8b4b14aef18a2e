package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A rerun of a run whose destination appends replaces the run's rows in the
// destination and in the results table: it never adds them again.
func TestAppendRerunNeverDuplicatesRows(t *testing.T) {
	spec := bytes.Replace(sample.Spec, []byte("write_mode: replace_partition"), []byte("write_mode: append"), 1)
	s, err := localstack.Start(context.Background(), localstack.Options{Specs: map[string][]byte{sample.SpecName: spec}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := s.Drop(ctx, "incoming/"+sample.FileName, sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil || r.Status != run.Succeeded {
		t.Fatalf("first epoch: %v %+v", err, r)
	}
	const want = 474
	count := func(table string) int64 {
		t.Helper()
		it, err := s.App.Clients.BigQuery.Query("SELECT COUNT(*) FROM `dropcast-local.sales." + table + "`").Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var row []bigquery.Value
		if err := it.Next(&row); err != nil && err != iterator.Done {
			t.Fatal(err)
		}
		return row[0].(int64)
	}
	runs := runsOn(s.App)
	for _, from := range []string{"load", "preprocess"} {
		code, out, errOut := runs("rerun", id, "--from", from, "--wait", "--interval", "50ms")
		wantExit(t, "rerun --from "+from, code, runsOK, out, errOut)
		for _, table := range []string{"purchases", "purchase_predictions"} {
			if n := count(table); n != want {
				t.Errorf("after a rerun from %s, %s holds %d rows, want the run's %d once", from, table, n, want)
			}
		}
	}
}
