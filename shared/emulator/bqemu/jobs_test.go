package bqemu

import (
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
)

func TestDuplicateJobIDReattaches(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	l := partitionLoader(e, tbl, "20260426", uri, bigquery.WriteAppend)
	l.JobID = "load-run1-20260426"
	first := e.mustLoad(t, l)

	_, err := l.Run(e.ctx)
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 409 || gerr.Errors[0].Reason != "duplicate" {
		t.Fatalf("second insert: got %v, want 409 duplicate", err)
	}
	job, err := e.c.JobFromID(e.ctx, "load-run1-20260426")
	if err != nil {
		t.Fatal(err)
	}
	st, err := job.Wait(e.ctx)
	if err != nil || st.Err() != nil {
		t.Fatalf("re-attached wait: %v / %v", err, st.Err())
	}
	if job.ID() != "load-run1-20260426" || st.Statistics.Details.(*bigquery.LoadStatistics).OutputRows != first.Statistics.Details.(*bigquery.LoadStatistics).OutputRows {
		t.Fatalf("re-attached job %s stats %+v", job.ID(), st.Statistics.Details)
	}
	if rows, _ := e.bq.Rows(testProject, "d", "sales"); len(rows) != 3 {
		t.Fatalf("duplicate insert changed the table: %d rows, want 3", len(rows))
	}
	cfg, err := job.Config()
	if err != nil {
		t.Fatal(err)
	}
	if lc, ok := cfg.(*bigquery.LoadConfig); !ok || lc.Dst.TableID != "sales$20260426" {
		t.Fatalf("re-attached config: %#v", cfg)
	}
}

func TestJobStateProgression(t *testing.T) {
	e := newEnv(t, 600*time.Millisecond)
	ds := e.dataset(t, "d")
	uri := e.put(t, "x.csv", "1,a,1\n")
	job, err := ds.Table("t").LoaderFrom(csvRef(uri, 0, salesSchema)).Run(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := []bigquery.State{job.LastStatus().State}
	deadline := time.Now().Add(5 * time.Second)
	for seen[len(seen)-1] != bigquery.Done {
		if time.Now().After(deadline) {
			t.Fatalf("job not done by deadline; states %v", seen)
		}
		_, tableErr := e.bq.Rows(testProject, "d", "t")
		st, err := job.Status(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A poll that still says PENDING/RUNNING came after the table check,
		// so the table must not have existed yet: loads commit at DONE.
		if st.State != bigquery.Done && tableErr == nil {
			t.Fatalf("table exists while job is %v", st.State)
		}
		if st.State != seen[len(seen)-1] {
			seen = append(seen, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []bigquery.State{bigquery.Pending, bigquery.Running, bigquery.Done}
	if len(seen) != 3 || seen[0] != want[0] || seen[1] != want[1] {
		t.Fatalf("states %v, want %v", seen, want)
	}
	st := job.LastStatus()
	if st.Err() != nil || st.Statistics.EndTime.Sub(st.Statistics.CreationTime) < 600*time.Millisecond {
		t.Fatalf("final status %+v, stats %+v", st.Err(), st.Statistics)
	}
}

func TestFaultFailJobsAndSlowJobs(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	e.bq.SetFaults(Faults{FailJobs: 1, SlowJobs: 300 * time.Millisecond})
	start := time.Now()
	st := e.load(t, tbl.LoaderFrom(csvRef(uri, 1, nil)))
	if err := jobErr(st); err == nil || err.Reason != "backendError" {
		t.Fatalf("first load: got %v, want backendError", st.Err())
	}
	if rows, _ := e.bq.Rows(testProject, "d", "sales"); len(rows) != 0 {
		t.Fatalf("failed job wrote %d rows", len(rows))
	}
	e.mustLoad(t, tbl.LoaderFrom(csvRef(uri, 1, nil)))
	if elapsed := time.Since(start); elapsed < 600*time.Millisecond {
		t.Fatalf("two slow jobs took %v, want at least 600ms", elapsed)
	}
	if rows, _ := e.bq.Rows(testProject, "d", "sales"); len(rows) != 3 {
		t.Fatalf("second load wrote %d rows, want 3", len(rows))
	}
}

func TestFaultServerErrorsAreRetried(t *testing.T) {
	e, tbl, uri := salesEnv(t)
	e.bq.SetFaults(Faults{Seed: 7, ServerErrorRate: 0.3})
	l := partitionLoader(e, tbl, "20260426", uri, bigquery.WriteTruncate)
	l.JobID = "retried-load"
	e.mustLoad(t, l)
	rows := e.readAll(t, e.c.Dataset("d").Table("sales$20260426"))
	n := e.count(t, "SELECT COUNT(*) FROM d.sales")
	injected := e.bq.InjectedServerErrors()
	e.bq.SetFaults(Faults{})
	if len(rows) != 3 || n != 3 {
		t.Fatalf("under faults: read %d rows, count %d, want 3", len(rows), n)
	}
	if injected == 0 {
		t.Fatal("no server errors were injected; the test proves nothing")
	}
}
