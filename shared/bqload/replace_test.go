package bqload

import (
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/spec"
)

// apply stages r's rows, applies them and drops the staging table, as the
// load step does across invocations; it returns the apply job.
func (e *env) apply(t *testing.T, r Request) Job {
	t.Helper()
	e.mustRun(t, r)
	tg, err := Prepare(e.ctx, e.bq, r)
	if err != nil {
		t.Fatal(err)
	}
	j, err := Apply(e.ctx, e.bq, r, tg.Location)
	if err != nil {
		t.Fatalf("apply %s: %v", r.ApplyJobID, err)
	}
	for {
		st, err := CheckJob(e.ctx, e.bq, j)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done {
			if st.Err != nil {
				t.Fatalf("apply %s failed: %v", r.ApplyJobID, st.Err)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := DropStage(e.ctx, e.bq, r); err != nil {
		t.Fatal(err)
	}
	return j
}

func runRequest(run string, epoch, date, uri string) Request {
	r := request(spec.Append, date, "dropcast_"+run+"_e"+epoch+"_load", uri)
	r.Run, r.ApplyJobID = run, "dropcast_"+run+"_e"+epoch+"_apply"
	return r
}

// An append tagged with its run replaces the run's rows: a repeated epoch,
// a redelivered apply, or epochs applied in either order leave the run's
// rows once; rows of other runs, and untagged rows of an older table, stay.
func TestAppendReplacesTheRunsRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.put(t, "a/part-00000.csv", fileA), e.put(t, "b/part-00000.csv", fileB)

	// A table appended to before runs were tagged: no _run column.
	e.mustRun(t, request(spec.Append, "20260426", "legacy", a))

	e.apply(t, runRequest("r1", "2", "20260426", b)) // the newer epoch first
	e.apply(t, runRequest("r1", "1", "20260426", a))
	e.apply(t, runRequest("r1", "1", "20260426", a)) // redelivered: re-attaches
	e.apply(t, runRequest("r2", "1", "20260426", b))
	for sql, want := range map[string]int64{
		"SELECT COUNT(*) FROM `p.d.t` WHERE _run = 'r1'":                              3,
		"SELECT COUNT(*) FROM `p.d.t` WHERE _run = 'r2'":                              2,
		"SELECT COUNT(*) FROM `p.d.t` WHERE _run IS NULL":                             3,
		"SELECT COUNT(*) FROM `p.d.t` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')": 8,
	} {
		if n := e.count(t, sql); n != want {
			t.Errorf("%s: %d, want %d", sql, n, want)
		}
	}
	// The run column was added at the end, NULLABLE; staging tables are gone.
	md, err := e.bq.DatasetInProject(project, "d").Table("t").Metadata(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := md.Schema[len(md.Schema)-1]
	if last.Name != RunTagColumn || last.Required {
		t.Fatalf("last column %+v, want NULLABLE %s", last, RunTagColumn)
	}
	it := e.bq.DatasetInProject(project, "d").Tables(e.ctx)
	for {
		tb, err := it.Next()
		if err != nil {
			break
		}
		if strings.HasPrefix(tb.TableID, "_dropcast_stage_") {
			t.Errorf("staging table %s left behind", tb.TableID)
		}
	}
}
