package postprocess_test

import (
	"context"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/postprocess"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
)

// reversed is an order that lists a file's rows last line first.
func reversed(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = n - 1 - i
	}
	return idx
}

// resultRows reads a finished run's results CSV: its header and rows.
func (h *harness) resultRows(t *testing.T, r *run.Run) ([]string, [][]string) {
	t.Helper()
	uri := r.Outputs["results"]
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		t.Fatalf("results %q: %v", uri, err)
	}
	recs, err := csv.NewReader(strings.NewReader(h.get(t, bucket, object))).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("results %s: %v", uri, err)
	}
	return recs[0], recs[1:]
}

// column is the values of column name.
func column(t *testing.T, header []string, rows [][]string, name string) []string {
	t.Helper()
	i := slices.Index(header, name)
	if i < 0 {
		t.Fatalf("results have no %s column: %v", name, header)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

// wantLines are the source lines of rows rows in files of perFile, each
// file's rows last line first.
func wantLines(rows, perFile int) []string {
	var out []string
	for first := 0; first < rows; first += perFile {
		for i := min(first+perFile, rows) - 1; i >= first; i-- {
			out = append(out, strconv.Itoa(i+2))
		}
	}
	return out
}

func TestResultsAreTheSameInOneInvocationOrOneFileAnInvocation(t *testing.T) {
	const rows, perFile = 2500, 1000
	whole := newHarness(t, memorySpec(t), time.Hour)
	r1 := whole.newRun(t, "20260426-000001", rows, perFile, reversed)
	done1, _ := whole.finish(t, r1.ID)
	tiny := newHarness(t, memorySpec(t), time.Nanosecond) // every invocation does one file
	r2 := tiny.newRun(t, "20260426-000002", rows, perFile, reversed)
	done2, deliveries := tiny.finish(t, r2.ID)
	for _, r := range []*run.Run{done1, done2} {
		if r.Error != nil || r.Status != run.Succeeded {
			t.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
		}
		if r.Counters[run.RowsPredicted] != rows {
			t.Errorf("run %s: counters %v, want %d rows predicted", r.ID, r.Counters, rows)
		}
	}
	if deliveries < 3 {
		t.Errorf("%d deliveries under a tiny budget for 3 predictions files, want one a file", deliveries)
	}
	h1, rows1 := whole.resultRows(t, done1)
	h2, rows2 := tiny.resultRows(t, done2)
	want := []string{"date", "store_id", "item_id", "category", "price", "quantity", "promo", "note", "prediction", "score", "score_false", "score_true", "run_id", "source_file", "model", "predicted_at", "source_line"}
	if !slices.Equal(h1, want) || !slices.Equal(h2, want) {
		t.Fatalf("headers %v and %v, want %v", h1, h2, want)
	}
	// In the prediction files' order, each file's rows as the file has them.
	if got := column(t, h1, rows1, "source_line"); !slices.Equal(got, wantLines(rows, perFile)) {
		t.Fatalf("source lines %v..., want the files' order", got[:5])
	}
	for i := range rows1 {
		a, b := slices.Clone(rows1[i]), slices.Clone(rows2[i])
		for _, c := range []int{12, 13, 15} { // run_id, source_file, predicted_at
			a[c], b[c] = "", ""
		}
		if !slices.Equal(a, b) {
			t.Fatalf("row %d differs:\n%q\n%q", i, rows1[i], rows2[i])
		}
	}
	// Line 7 is row 5: its values from the prediction file, score 0.005 for true.
	row := rows1[slices.Index(column(t, h1, rows1, "source_line"), "7")]
	wantRow := []string{"2026-04-26", "6", "SKU-00005", "grocery", "10.05", "2", "false", "note, 5", "false", "0.9950", "0.9950", "0.0050", done1.ID, "gs://inbox/incoming/20260426-000001.csv", "projects/dropcast-local/locations/us-central1/models/demo-returns"}
	if !slices.Equal(row[:15], wantRow) {
		t.Errorf("line 7:\n got %q\nwant %q", row[:15], wantRow)
	}
}

func TestErrorRowsAreCountedAndARowInBothKeepsItsResult(t *testing.T) {
	h := newHarness(t, memorySpec(t), time.Hour)
	r := h.newRun(t, "20260426-000001", 30, 10, nil)
	dir := strings.TrimPrefix(r.Outputs["predictions"], "gs://"+workBucket+"/")
	// Line 2 was predicted and is also reported failed; line 40 only failed.
	h.put(t, workBucket, dir+"/errors_1.csv", strings.NewReader("date,store_id,item_id,category,price,quantity,promo,note,dropcast_row,error\n"+
		cleanRow(0)+`,"{""code"":3}"`+"\n"+
		cleanRow(38)+`,"{""code"":3}"`+"\n"))
	done, _ := h.finish(t, r.ID)
	if done.Error != nil {
		t.Fatalf("run failed: %+v", done.Error)
	}
	if done.Counters[run.RowsPredicted] != 30 || done.Counters[run.RowsErrored] != 2 {
		t.Errorf("counters %v, want 30 predicted and 2 errors", done.Counters)
	}
	header, rows := h.resultRows(t, done)
	if lines := column(t, header, rows, "source_line"); len(lines) != 30 || !slices.Contains(lines, "2") || slices.Contains(lines, "40") {
		t.Errorf("result lines %v: want every predicted row, line 2 among them", lines)
	}
}

func TestARowReportedTwiceFailsTheRunAndLeavesNoParts(t *testing.T) {
	h := newHarness(t, memorySpec(t), time.Hour)
	r := h.newRun(t, "20260426-000001", 30, 10, nil)
	dir := strings.TrimPrefix(r.Outputs["predictions"], "gs://"+workBucket+"/")
	h.put(t, workBucket, dir+"/predictions_4.csv", strings.NewReader("date,store_id,item_id,category,price,quantity,promo,note,dropcast_row,returned_false_score,returned_true_score\n"+
		cleanRow(3)+",0.5,0.5\n"))
	done, _ := h.finish(t, r.ID)
	if done.Status != run.Failed || done.Error == nil || !strings.Contains(done.Error.Message, "more than once") {
		t.Fatalf("run %s, error %+v: want it failed for a row reported twice", done.Status, done.Error)
	}
	parts, err := gcsuri.List(context.Background(), h.gcs.Bucket(resultsBucket), postprocess.PartsPrefix(done))
	if err != nil || len(parts) != 0 {
		t.Errorf("result parts left: %v (%v)", parts, err)
	}
}

func TestOnlineOutputIsReadUpToTheFilesPredictRecorded(t *testing.T) {
	online := strings.Replace(string(memorySpec(t)), "mode: batch", "mode: online", 1)
	h := newHarness(t, []byte(online), time.Hour)
	r := h.newRun(t, "20260426-000001", 30, 10, nil, func(r *run.Run) {
		r.Counters[predictor.CounterOutputFiles] = 3
	})
	dir := strings.TrimPrefix(r.Outputs["predictions"], "gs://"+workBucket+"/")
	// A crashed invocation's file past the last one the step finished with:
	// rows predicted again in the files 1-3.
	h.put(t, workBucket, dir+"/predictions_4.csv", strings.NewReader("date,store_id,item_id,category,price,quantity,promo,note,dropcast_row,returned_false_score,returned_true_score\n"+
		cleanRow(3)+",0.5,0.5\n"+cleanRow(4)+",0.5,0.5\n"))
	done, _ := h.finish(t, r.ID)
	if done.Error != nil || done.Counters[run.RowsPredicted] != 30 {
		t.Fatalf("run %s %+v, counters %v: want the 30 rows of files 1-3", done.Status, done.Error, done.Counters)
	}
}

func TestOutputChangingBetweenInvocationsFailsTheRun(t *testing.T) {
	h := newHarness(t, memorySpec(t), time.Nanosecond)
	r := h.newRun(t, "20260426-000001", 30, 10, nil)
	h.deliver(t, r.ID) // one file done
	dir := strings.TrimPrefix(r.Outputs["predictions"], "gs://"+workBucket+"/")
	h.put(t, workBucket, dir+"/predictions_4.csv", strings.NewReader("date,store_id,item_id,category,price,quantity,promo,note,dropcast_row,returned_false_score,returned_true_score\n"))
	done, _ := h.finish(t, r.ID)
	if done.Status != run.Failed || done.Error == nil || !strings.Contains(done.Error.Message, "changed") {
		t.Fatalf("run %s, error %+v: want it failed for an output that changed", done.Status, done.Error)
	}
}
