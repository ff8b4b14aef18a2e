package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// failingCSV has no valid row: preprocess fails the run.
const failingCSV = "date,store_id,item_id,category,price,quantity,promo,note\n" +
	"2026-03-01,0,bad,nope,-1,0,maybe,x\n2026-03-01,0,bad,nope,-1,0,maybe,y\n"

// lockedBuffer is a buffer a command may write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runsOn returns a function that runs `dropcast runs ARGS` against a.
func runsOn(a *app.App) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		var out, errOut lockedBuffer
		c := &runsCLI{stdout: &out, stderr: &errOut, now: time.Now,
			connect: func(context.Context, connFlags, access) (*app.App, func(), error) { return a, func() {}, nil }}
		code := c.main(context.Background(), args)
		return code, out.String(), errOut.String()
	}
}

// stackWithRuns starts a local stack and runs the sample (succeeds) and a
// file without a valid row (fails) through it.
func stackWithRuns(t *testing.T) (s *localstack.Stack, ok, failed *run.Run) {
	return stackWithRunsOpts(t, localstack.Options{})
}

func stackWithRunsOpts(t *testing.T, opts localstack.Options) (s *localstack.Stack, ok, failed *run.Run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := localstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// One after the other, so the second run is the newer one (events are
	// delivered in no particular order).
	var runs []*run.Run
	for _, f := range []struct{ name, data string }{{sample.FileName, string(sample.CSV)}, {"20260301-090000.csv", failingCSV}} {
		id, err := s.Drop(ctx, "incoming/"+f.name, []byte(f.data))
		if err != nil || id == "" {
			t.Fatalf("drop %s: %q %v", f.name, id, err)
		}
		r, err := s.Wait(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if runs[0].Status != run.Succeeded || runs[1].Status != run.Failed {
		t.Fatalf("set-up runs ended %s and %s", runs[0].Status, runs[1].Status)
	}
	return s, runs[0], runs[1]
}

func getRun(t *testing.T, s *localstack.Stack, id string) *run.Run {
	t.Helper()
	r, err := s.App.Runs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantExit(t *testing.T, what string, got, want int, stdout, stderr string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", what, got, want, stdout, stderr)
	}
}

// wantOutput checks that out contains each of want, with runs of spaces
// counting as one (table columns are padded).
func wantOutput(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(squeeze(out), squeeze(w)) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

func TestRunsListAndShow(t *testing.T) {
	s, ok, failed := stackWithRuns(t)
	runs := runsOn(s.App)

	code, out, errOut := runs("list")
	wantExit(t, "list", code, runsOK, out, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN ") {
		t.Fatalf("list: want a header and 2 runs:\n%s", out)
	}
	// Newest first: the failing file was dropped second.
	if !strings.HasPrefix(lines[1], failed.ID) || !strings.HasPrefix(lines[2], ok.ID) {
		t.Errorf("list order:\n%s", out)
	}
	if f := strings.Fields(lines[2]); f[1] != "succeeded" || f[7] != "480" || f[8] != "474" || f[9] != "6" || f[10] != "474" {
		t.Errorf("succeeded run's line: %q", f)
	}
	wantOutput(t, "list", lines[1], "failed", "preprocess: ")

	code, out, errOut = runs("list", "--status", "failed", "--json")
	wantExit(t, "list --json", code, runsOK, out, errOut)
	var got []*run.Run
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != failed.ID || got[0].Error == nil {
		t.Errorf("list --status failed --json: %s", out)
	}
	for _, tc := range []struct {
		args []string
		n    int
	}{
		{[]string{"--pipeline", "returns"}, 0},
		{[]string{"--since", "2099-01-01"}, 0},
		{[]string{"--since", "1d", "--pipeline", "purchases"}, 2},
		{[]string{"--limit", "1"}, 1},
	} {
		code, out, errOut := runs(append([]string{"list", "--json"}, tc.args...)...)
		wantExit(t, "list", code, runsOK, out, errOut)
		var got []*run.Run
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != tc.n {
			t.Errorf("list %v: %d runs (%v), want %d", tc.args, len(got), err, tc.n)
		}
	}
	if code, out, _ := runs("list", "--since", "2099-01-01"); code != runsOK || out != "no runs\n" {
		t.Errorf("empty list: %d %q", code, out)
	}

	code, out, errOut = runs("show", ok.ID)
	wantExit(t, "show", code, runsOK, out, errOut)
	wantOutput(t, "show", out,
		"run "+ok.ID+": SUCCEEDED",
		"in=480 clean=474 rejected=6",
		"rows_loaded              474",
		"https://console.cloud.google.com/storage/browser/dropcast-work/runs/"+ok.ID+"/e1/clean/",
		"https://console.cloud.google.com/bigquery?",
		"record gs://dropcast-state/runs/"+ok.ID+".json",
		"page   "+s.Config.StatusURL+"/runs/"+ok.ID,
	)
	code, out, errOut = runs("show", failed.ID)
	wantExit(t, "show failed run", code, runsOK, out, errOut)
	wantOutput(t, "show failed run", out, ": FAILED", "failed in preprocess:", "preprocess error:")

	// A unique prefix is enough; an ambiguous one lists the candidates.
	code, out, errOut = runs("show", "--json", "purchases-20260426")
	wantExit(t, "show prefix", code, runsOK, out, errOut)
	if !strings.Contains(out, `"id": "`+ok.ID+`"`) {
		t.Errorf("show --json by prefix: %s", out)
	}
	code, out, errOut = runs("show", "purchases-2026")
	wantExit(t, "show ambiguous", code, runsFailed, out, errOut)
	wantOutput(t, "show ambiguous", errOut, "names 2 runs", ok.ID, failed.ID)
	code, _, errOut = runs("show", "purchases-nothing-0123456789")
	wantExit(t, "show missing", code, runsFailed, "", errOut)
	wantOutput(t, "show missing", errOut, "run not found")
}

func TestRunsRerun(t *testing.T) {
	s, ok, failed := stackWithRuns(t)
	runs := runsOn(s.App)
	ctx := context.Background()

	code, out, errOut := runs("rerun", ok.ID, "--from", "load", "--wait", "--interval", "50ms")
	wantExit(t, "rerun --from load", code, runsOK, out, errOut)
	wantOutput(t, "rerun --from load", out, "epoch 2 from load", "rerun: epoch 2 from load (was succeeded)", "load        done in", "postprocess done in", "SUCCEEDED in")
	if strings.Contains(out, "preprocess  done") {
		t.Errorf("rerun from load reported preprocess again:\n%s", out)
	}
	r := getRun(t, s, ok.ID)
	pre, load := r.StepState(run.Preprocess), r.StepState(run.Load)
	switch {
	case r.Epoch != 2 || r.Status != run.Succeeded:
		t.Errorf("after rerun: epoch %d status %s", r.Epoch, r.Status)
	case !pre.StartedAt.Equal(ok.Steps[0].StartedAt) || pre.Attempts != ok.Steps[0].Attempts:
		t.Errorf("preprocess was not kept: %+v", pre)
	case !load.StartedAt.After(ok.FinishedAt):
		t.Errorf("load did not run again: started %s, first epoch finished %s", load.StartedAt, ok.FinishedAt)
	case r.Counters[run.RowsLoaded] != 474 || r.Counters[run.RowsClean] != 474 || r.Counters[run.RowsPredicted] != 474:
		t.Errorf("counters %v", r.Counters)
	}
	for _, k := range []string{"clean", "predictions"} {
		if !strings.Contains(r.Outputs[k], "/runs/"+ok.ID+"/e2/") {
			t.Errorf("output %s = %s, want epoch 2's", k, r.Outputs[k])
		}
	}
	if n := countObjects(t, s.Storage.Bucket(localstack.WorkBucket), "runs/"+ok.ID+"/e2/clean/"); n == 0 {
		t.Error("no clean parts carried over to epoch 2")
	}

	// A failed run reruns from the start, and fails the same way.
	code, out, errOut = runs("rerun", "--wait", "--interval", "50ms", failed.ID)
	wantExit(t, "rerun failed run", code, runsFailed, out, errOut)
	wantOutput(t, "rerun failed run", out, "epoch 2 from preprocess (was failed in epoch 1)", "FAILED", "1 of 1 runs failed")
	if r := getRun(t, s, failed.ID); r.Epoch != 2 || r.Status != run.Failed || r.StepState(run.Preprocess).Attempts != 1 {
		t.Errorf("failed run after rerun: epoch %d %s attempts %d", r.Epoch, r.Status, r.StepState(run.Preprocess).Attempts)
	}

	// Refusals.
	code, _, errOut = runs("rerun", failed.ID, "--from", "predict")
	wantExit(t, "rerun from after a failed step", code, runsFailed, "", errOut)
	wantOutput(t, "rerun from after a failed step", errOut, "cannot rerun from predict: preprocess is failed; rerun from preprocess")
	if _, err := s.App.Runs.Update(ctx, ok.ID, func(r *run.Run) error { r.Status = run.Running; return nil }); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runs("rerun", ok.ID)
	wantExit(t, "rerun a running run", code, runsFailed, "", errOut)
	wantOutput(t, "rerun a running run", errOut, "still running")
	if r := getRun(t, s, ok.ID); r.Epoch != 2 {
		t.Errorf("refused rerun changed the epoch to %d", r.Epoch)
	}
	code, _, errOut = runs("rerun", ok.ID, "--from", "bogus")
	wantExit(t, "rerun --from bogus", code, runsUsage, "", errOut)
}

func TestRunsWatch(t *testing.T) {
	s, ok, _ := stackWithRuns(t)
	runs := runsOn(s.App)

	var out lockedBuffer
	c := &runsCLI{stdout: &out, stderr: &out, now: time.Now,
		connect: func(context.Context, connFlags, access) (*app.App, func(), error) { return s.App, func() {}, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan int)
	go func() { ended <- c.main(ctx, []string{"watch", "--interval", "50ms", "--pipeline", "purchases"}) }()
	eventually(t, func() bool { return strings.Contains(out.String(), "watching 2 runs, 0 running") })

	code, rout, errOut := runs("rerun", ok.ID)
	wantExit(t, "rerun", code, runsOK, rout, errOut)
	eventually(t, func() bool { return strings.Contains(out.String(), "SUCCEEDED") })
	cancel()
	if code := <-ended; code != runsOK {
		t.Errorf("watch ended with %d", code)
	}
	got := out.String()
	wantOutput(t, "watch", got,
		ok.ID+"  rerun: epoch 2 from preprocess (was succeeded)",
		ok.ID+"  preprocess  done in",
		ok.ID+"  load        done in",
		ok.ID+"  postprocess done in",
		ok.ID+"  SUCCEEDED in",
	)
	if strings.Index(got, "preprocess  done") < 0 || strings.Index(got, "preprocess  done") > strings.Index(got, "postprocess done") {
		t.Errorf("watch printed steps out of order:\n%s", got)
	}

	// watch --run exits with the run's outcome.
	code, wout, errOut := runs("watch", "--run", ok.ID, "--interval", "50ms")
	wantExit(t, "watch --run on a finished run", code, runsOK, wout, errOut)
}

func TestRunsBackfill(t *testing.T) {
	// The notification of one file in the range is lost: it has no run.
	const lost = "incoming/20260427-060000.csv"
	s, ok, failed := stackWithRunsOpts(t, localstack.Options{LoseEvent: func(o string) bool { return o == lost }})
	runs := runsOn(s.App)
	ctx := context.Background()
	lostID, err := s.Drop(ctx, lost, sample.CSV)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runs("backfill", "--since", "2026-04-20", "--until", "20260430", "--dry-run")
	wantExit(t, "backfill --dry-run", code, runsOK, out, errOut)
	wantOutput(t, "backfill --dry-run", out,
		"2 files in gs://dropcast-inbox/ dated 2026-04-20 to 2026-04-30 (1 others outside the range, 0 without a date",
		"[1/2] incoming/20260426-120000.csv  20260426  skipped (succeeded)  "+ok.ID,
		"[2/2] incoming/20260427-060000.csv  20260427  would start          "+lostID,
		"backfill: 1 would be started, 0 would be rerun, 1 skipped, 0 errors")
	if _, err := s.App.Runs.Get(ctx, lostID); !errors.Is(err, run.ErrNotFound) {
		t.Fatalf("a dry run started %s: %v", lostID, err)
	}
	code, out, errOut = runs("backfill", "--since", "2026-04-20", "--force", "--dry-run")
	wantExit(t, "backfill --force --dry-run", code, runsOK, out, errOut)
	wantOutput(t, "backfill --force --dry-run", out, "to now", "would rerun          "+ok.ID, "backfill: 1 would be started, 1 would be rerun")

	code, out, errOut = runs("backfill", "--since", "2026-04-20", "--wait", "--interval", "50ms")
	wantExit(t, "backfill", code, runsOK, out, errOut)
	wantOutput(t, "backfill", out, "started              "+lostID, "backfill: 1 started, 0 rerun, 1 skipped, 0 errors", lostID+"  SUCCEEDED in")
	if r := getRun(t, s, lostID); r.Status != run.Succeeded || r.Epoch != 1 || r.FileDate != "20260427" || r.Counters[run.RowsPredicted] != 474 {
		t.Errorf("backfilled run: %s epoch %d date %s counters %v", r.Status, r.Epoch, r.FileDate, r.Counters)
	}
	if r := getRun(t, s, ok.ID); r.Epoch != 1 {
		t.Errorf("backfill touched a succeeded run: epoch %d", r.Epoch)
	}

	// A failed run is rerun; it fails again, and --wait says so.
	code, out, errOut = runs("backfill", "--since", "20260301", "--until", "2026-03-01", "--wait", "--interval", "50ms")
	wantExit(t, "backfill of a failed file", code, runsFailed, out, errOut)
	wantOutput(t, "backfill of a failed file", out, "rerun                "+failed.ID, failed.ID+"  rerun: epoch 2 from preprocess", failed.ID+"  FAILED in preprocess")
	if r := getRun(t, s, failed.ID); r.Epoch != 2 {
		t.Errorf("failed run's epoch %d after backfill, want 2", r.Epoch)
	}

	// --force reruns a succeeded file.
	code, out, errOut = runs("backfill", "--since", "2026-04-26", "--until", "2026-04-26", "--force", "--wait", "--interval", "50ms")
	wantExit(t, "backfill --force", code, runsOK, out, errOut)
	if r := getRun(t, s, ok.ID); r.Epoch != 2 || r.Status != run.Succeeded {
		t.Errorf("forced backfill: epoch %d %s", r.Epoch, r.Status)
	}

	for _, args := range [][]string{{"backfill"}, {"backfill", "--since", "yesterday"}, {"backfill", "--since", "2026-04-26", "--until", "2026-04-01"}} {
		code, out, errOut := runs(args...)
		wantExit(t, strings.Join(args, " "), code, runsUsage, out, errOut)
	}
}

func TestRunsUsageAndConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	ctx := context.Background()
	for _, args := range [][]string{{}, {"explode"}, {"list", "extra"}, {"list", "--status", "weird"}, {"show"}, {"rerun"}, {"watch", "--interval", "0s"}} {
		errOut.Reset()
		if code := cmdRuns(ctx, args, nil, &out, &errOut); code != runsUsage {
			t.Errorf("runs %v: exit %d, want %d\n%s", args, code, runsUsage, errOut.String())
		}
	}
	for _, v := range []string{"DROPCAST_PROJECT", "DROPCAST_STATE_BUCKET", "DROPCAST_TASKS_QUEUE", "DROPCAST_STEP_BASE_URL"} {
		t.Setenv(v, "")
	}
	errOut.Reset()
	if code := cmdRuns(ctx, []string{"list"}, nil, &out, &errOut); code != runsUsage || !strings.Contains(errOut.String(), "DROPCAST_STATE_BUCKET (--state-bucket) is required") {
		t.Errorf("list without a state bucket: exit %d\n%s", code, errOut.String())
	}
	errOut.Reset()
	if code := cmdRuns(ctx, []string{"rerun", "--state-bucket", "b", "--project", "p", "x"}, nil, &out, &errOut); code != runsUsage || !strings.Contains(errOut.String(), "DROPCAST_TASKS_QUEUE is required") {
		t.Errorf("rerun without a queue: exit %d\n%s", code, errOut.String())
	}
	out.Reset()
	if code := cmdRuns(ctx, []string{"list", "--local"}, nil, &out, &errOut); code != runsOK || out.String() != "no runs\n" {
		t.Errorf("list --local: exit %d %q", code, out.String())
	}
}

func TestRestart(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)
	done := func() *run.Run {
		r := run.New("p-f-0123456789", "p", run.Source{}, "20260426", run.Plan, t0)
		for _, st := range r.Steps {
			st.Status, st.Attempts, st.Segments, st.StartedAt, st.FinishedAt = run.StepDone, 3, 2, t0, t0.Add(time.Second)
			st.Checkpoint = json.RawMessage(`{"x":1}`)
		}
		r.Status, r.FinishedAt, r.Redrives, r.Fence = run.Succeeded, t0.Add(4*time.Second), 2, 17
		r.Counters = map[string]int64{run.RowsIn: 10, run.RowsClean: 9, run.RowsRejected: 1, run.RowsLoaded: 9, run.RowsPredicted: 9, "custom": 5}
		r.Outputs = map[string]string{"clean": "c", "rejects": "r", "table": "t", "prediction_job": "j", "predictions": "p", "results": "x", "results_table": "y"}
		return r
	}
	r := done()
	if err := run.Restart(r, run.Load, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r.Epoch != 2 || r.Status != run.Running || r.Step != run.Load || r.Segment != 0 || r.Redrives != 0 || r.Fence != 17 ||
		!r.FinishedAt.IsZero() || r.Error != nil || !r.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("record after restart: %+v", r)
	}
	if pre := r.Steps[0]; pre.Status != run.StepDone || pre.Attempts != 3 || len(pre.Checkpoint) == 0 {
		t.Errorf("preprocess not kept: %+v", pre)
	}
	for _, st := range r.Steps[1:] {
		if st.Status != run.StepPending || st.Attempts != 0 || st.Segments != 0 || !st.StartedAt.IsZero() || st.Checkpoint != nil {
			t.Errorf("%s not reset: %+v", st.Name, st)
		}
	}
	wantOutputs, wantCounters := "clean rejects", "custom rows_clean rows_in rows_rejected"
	if got := strings.Join(sortedKeys(r.Outputs), " "); got != wantOutputs {
		t.Errorf("outputs kept: %s, want %s", got, wantOutputs)
	}
	if got := strings.Join(sortedKeys(r.Counters), " "); got != wantCounters {
		t.Errorf("counters kept: %s, want %s", got, wantCounters)
	}

	r = done()
	r.Steps[1].Status, r.Status = run.StepFailed, run.Failed
	if err := run.Restart(r, run.Predict, t0); err == nil || !strings.Contains(err.Error(), "load is failed; rerun from load") {
		t.Errorf("restart after a failed step: %v", err)
	}
	if err := run.Restart(done(), "nope", t0); err == nil {
		t.Error("restart from an unknown step succeeded")
	}
}

func TestDiff(t *testing.T) {
	t0 := time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)
	r := run.New("p-f-0123456789", "p", run.Source{Bucket: "in", Object: "o.csv"}, "", run.Plan, t0)
	r.Steps[0].Status, r.Steps[0].Attempts, r.Steps[0].StartedAt, r.Steps[0].FinishedAt = run.StepDone, 1, t0, t0.Add(time.Second)
	r.Steps[1].Status, r.Steps[1].Attempts, r.Steps[1].StartedAt = run.StepRunning, 1, t0.Add(time.Second)
	if got := kinds(diff(nil, r)); got != "run.started step.done step.started" {
		t.Errorf("new run: %s", got)
	}
	r2 := cloneRun(r)
	r2.Steps[1].Attempts, r2.Steps[1].LastError = 2, "boom"
	ch := diff(r, r2)
	if kinds(ch) != "step.retried" || ch[0].Message != "boom" || ch[0].Attempts != 2 {
		t.Errorf("retry: %+v", ch)
	}
	polled := cloneRun(r)
	polled.Steps[1].Attempts, polled.Steps[1].Segments = 2, 1
	if ch := diff(r, polled); kinds(ch) != "step.segment" || ch[0].Segments != 1 {
		t.Errorf("a poll-later segment: %+v", ch)
	}
	next := cloneRun(polled)
	next.Steps[1].Attempts = 3 // the segment's next delivery took the lease: no retry
	if got := kinds(diff(polled, next)); got != "" {
		t.Errorf("the delivery after a segment: %s", got)
	}
	r3 := cloneRun(r2)
	r3.Steps[1].Status, r3.Steps[1].FinishedAt = run.StepFailed, t0.Add(2*time.Second)
	r3.Status, r3.FinishedAt, r3.Error = run.Failed, t0.Add(2*time.Second), &run.Failure{Step: run.Load, Message: "bad"}
	if got := kinds(diff(r2, r3)); got != "step.failed run.failed" {
		t.Errorf("failure: %s", got)
	}
	r4 := cloneRun(r3)
	if err := run.Restart(r4, run.Load, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r4.Steps[1].Status, r4.Steps[1].Attempts, r4.Steps[1].StartedAt = run.StepRunning, 1, t0.Add(time.Minute)
	if ch := diff(r3, r4); kinds(ch) != "run.rerun step.started" || ch[0].Step != run.Load {
		t.Errorf("rerun: %+v", ch)
	}
	// Read late, when the rerun's first step is done already: still "from load".
	r5 := cloneRun(r4)
	r5.Steps[1].Status, r5.Steps[1].FinishedAt, r5.Step = run.StepDone, t0.Add(61*time.Second), run.Predict
	if ch := diff(r3, r5); kinds(ch) != "run.rerun step.done" || ch[0].Step != run.Load {
		t.Errorf("rerun read late: %+v", ch)
	}
	if got := kinds(diff(r4, r4)); got != "" {
		t.Errorf("no change: %s", got)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 4, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-04-20":           time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC),
		"20260420":             time.Date(2026, 4, 20, 0, 0, 0, 0, time.UTC),
		"2026-04-20T10:00:00Z": time.Date(2026, 4, 20, 10, 0, 0, 0, time.UTC),
		"36h":                  now.Add(-36 * time.Hour),
		"7d":                   now.Add(-7 * 24 * time.Hour),
	} {
		if got, err := parseWhen(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "-5h", "2026-13-01"} {
		if _, err := parseWhen(in, now); err == nil {
			t.Errorf("parseWhen(%q) succeeded", in)
		}
	}
}

var spaces = regexp.MustCompile(` {2,}`)

func squeeze(s string) string { return spaces.ReplaceAllString(s, " ") }

func kinds(cs []change) string {
	var k []string
	for _, c := range cs {
		k = append(k, c.Kind)
	}
	return strings.Join(k, " ")
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func countObjects(t *testing.T, b *storage.BucketHandle, prefix string) int {
	t.Helper()
	n := 0
	it := b.Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		_, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// eventually polls cond for up to 15 seconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cloneRun deep-copies the parts of r that a rerun changes.
func cloneRun(r *run.Run) *run.Run {
	c := *r
	c.Steps = make([]*run.StepState, len(r.Steps))
	for i, st := range r.Steps {
		s := *st
		c.Steps[i] = &s
	}
	c.Outputs = maps.Clone(r.Outputs)
	c.Counters = maps.Clone(r.Counters)
	return &c
}
