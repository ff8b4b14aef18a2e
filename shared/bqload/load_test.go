package bqload

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"

	"github.com/dropcast/dropcast/shared/spec"
)

const (
	fileA = "id,day,note\n1,2026-04-26,a\n2,2026-04-26,\"b, quoted\"\n3,2026-04-26,\n"
	fileB = "id,day,note\n10,2026-04-26,x\n11,2026-04-26,y\n"
)

func TestWriteModesPerPartition(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.put(t, "a/part-00000.csv", fileA), e.put(t, "b/part-00000.csv", fileB)

	// replace_partition: the file's day holds exactly the last load of that day.
	e.mustRun(t, request(spec.ReplacePartition, "20260426", "r1", a))
	e.mustRun(t, request(spec.ReplacePartition, "20260426", "r2", a))
	if n := e.partition(t, "2026-04-26"); n != 3 {
		t.Fatalf("after the same file twice the partition holds %d rows, want 3", n)
	}
	e.mustRun(t, request(spec.ReplacePartition, "20260427", "r3", b))
	e.mustRun(t, request(spec.ReplacePartition, "20260426", "r4", b))
	if p26, p27 := e.partition(t, "2026-04-26"), e.partition(t, "2026-04-27"); p26 != 2 || p27 != 2 {
		t.Fatalf("partitions hold %d and %d rows, want 2 and 2", p26, p27)
	}

	// append: every load adds its rows once, into the file's day.
	e.mustRun(t, request(spec.Append, "20260428", "a1", a))
	e.mustRun(t, request(spec.Append, "20260428", "a2", a))
	if n := e.partition(t, "2026-04-28"); n != 6 {
		t.Fatalf("two appends of 3 rows left %d, want 6", n)
	}

	// truncate: the table holds exactly the last load (BigQuery refuses
	// schema update options here, which the step used to send).
	for _, id := range []string{"t1", "t2"} {
		if rows := e.mustRun(t, request(spec.Truncate, "20260426", id, b)); rows != 2 {
			t.Fatalf("truncate %s loaded %d rows, want 2", id, rows)
		}
	}
	if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t`"); n != 2 {
		t.Fatalf("after truncate the table holds %d rows, want 2", n)
	}
}

func TestRepeatedLoadReattaches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.put(t, "a/part-00000.csv", fileA)
	r := request(spec.Append, "20260426", "dropcast_run_e1_load", a)
	for range 3 {
		if rows := e.mustRun(t, r); rows != 3 {
			t.Fatalf("loaded %d rows, want 3", rows)
		}
	}
	if n := e.partition(t, "2026-04-26"); n != 3 {
		t.Fatalf("three starts of one append job left %d rows, want 3", n)
	}
	if ids := e.emu.LoadJobIDs(project); !slices.Equal(ids, []string{r.JobID}) {
		t.Fatalf("jobs %v, want only %s", ids, r.JobID)
	}
}

func TestJobErrorListsBigQueryRowErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.put(t, "bad/part-00000.csv", "id,day,note\n1,2026-04-26,ok\nseven,2026-04-26,x\n3,2026-13-01,y\n")
	st := e.run(t, request(spec.ReplacePartition, "20260426", "bad", bad))
	var je *JobError
	if !errors.As(st.Err, &je) {
		t.Fatalf("got %v, want a *JobError", st.Err)
	}
	msg := st.Err.Error()
	for _, want := range []string{
		"BigQuery load job bad failed: invalid: Error while reading data, error message: CSV table encountered too many errors, giving up. Rows: 2; errors: 1.",
		"invalid: Error while reading data, error message: Could not parse 'seven' as INT64 for field id (position 0) starting at location 28",
		"(at gs://work/bad/part-00000.csv)",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "too many errors"); n != 1 {
		t.Errorf("the job's error result is listed %d times:\n%s", n, msg)
	}
	if len(je.Errors) != 2 || je.Errors[1].Reason != "invalid" || je.Errors[1].Location != "gs://work/bad/part-00000.csv" {
		t.Errorf("errors %+v, want the result and one row error with reason and location", je.Errors)
	}
	if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t`"); n != 0 {
		t.Errorf("a failed load left %d rows", n)
	}
}

func TestJobErrorCapsTheList(t *testing.T) {
	je := &JobError{JobID: "j"}
	for i := range 15 {
		je.Errors = append(je.Errors, &bigquery.Error{Reason: "invalid", Message: "row " + string(rune('a'+i))})
	}
	msg := je.Error()
	if !strings.HasSuffix(msg, "invalid: row j; and 5 more errors") || strings.Contains(msg, "row k") {
		t.Fatalf("message %q", msg)
	}
}

func TestColumnPartitionedReplaceTouchesOnlyTheFilesDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day27 := e.put(t, "c/part-00000.csv", "id,day,note\n1,2026-04-27,a\n2,2026-04-27,b\n")
	day26 := e.put(t, "d/part-00000.csv", fileA)
	mixed := e.put(t, "m/part-00000.csv", "id,day,note\n5,2026-04-26,a\n6,2026-04-27,b\n")
	req := func(date, id, uri string) Request {
		r := request(spec.ReplacePartition, date, id, uri)
		r.PartitionField = "day"
		return r
	}
	e.mustRun(t, req("20260427", "c1", day27))
	e.mustRun(t, req("20260426", "c2", day26))
	e.mustRun(t, req("20260426", "c3", day26))
	st := e.run(t, req("20260426", "c4", mixed))
	if st.Err == nil || !strings.Contains(st.Err.Error(), "Some rows belong to different partitions rather than destination partition 20260426") {
		t.Fatalf("a file with another day's rows: %v, want BigQuery's partition error", st.Err)
	}
	for day, want := range map[string]int64{"2026-04-26": 3, "2026-04-27": 2} {
		if n := e.count(t, "SELECT COUNT(*) FROM `p.d.t` WHERE day = DATE '"+day+"'"); n != want {
			t.Errorf("day %s holds %d rows, want %d", day, n, want)
		}
	}
}

func TestInvalidRequestsAreRefusedBeforeBigQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for name, r := range map[string]Request{
		"unknown mode":          request("upsert", "20260426", "j", "gs://work/x"),
		"replace without date":  request(spec.ReplacePartition, "", "j", "gs://work/x"),
		"no sources":            request(spec.Append, "20260426", "j", ""),
		"destination w/o table": {Table: Table{project, "d", ""}, WriteMode: spec.Append, SourceURIs: []string{"gs://work/x"}, JobID: "j"},
	} {
		if name == "no sources" {
			r.SourceURIs = nil
		}
		if _, err := Load(e.ctx, e.bq, r); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: got %v, want ErrInvalidRequest", name, err)
		}
	}
	if ids := e.emu.LoadJobIDs(project); len(ids) != 0 {
		t.Errorf("invalid requests started jobs %v", ids)
	}
	_, err := e.bq.Dataset("d").Table("t").Metadata(e.ctx)
	if err == nil {
		t.Error("an invalid request created the table")
	}
}
