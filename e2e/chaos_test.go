package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/load"
	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/schema"
)

// The chaos test runs seeded fault scenarios over a mix of files and checks
// the invariants the product promises. By default it runs a fast subset;
//
//	DROPCAST_CHAOS_SEEDS=200 go test ./e2e -run TestChaos -parallel 8 -timeout 30m
//
// runs the full set, and DROPCAST_CHAOS_SEED=N replays one seed.
const fastSeeds = 6

type chaosFile struct {
	name string
	data []byte
	// failStep is the step the run must fail in, or "" when it must succeed.
	failStep string
}

// reference is what a fault-free run of a file produces.
type reference struct {
	results []string
	rows    []string // the clean parts' _row values, sorted
	clean   int64
}

func TestChaos(t *testing.T) {
	seeds := chaosSeeds(t)
	dirty := bytes.ReplaceAll(sample.CSV, []byte(",grocery,"), []byte(",groceries,")) // a third of the rows break the spec
	files := []chaosFile{
		{name: "clean", data: sample.CSV},
		{name: "large", data: bigSample(12)}, // 5,760 rows: segments under small budgets
		{name: "dirty", data: dirty, failStep: run.Preprocess},
	}
	refs := map[string]reference{}
	ref := mustStack(t, localstack.Options{})
	for _, f := range files[:2] {
		r := dropAndWait(t, ref, sampleObject(), f.data)
		if r.Status != run.Succeeded {
			t.Fatalf("reference run of %s: %s %+v", f.name, r.Status, r.Error)
		}
		h, rows := results(t, ref, r)
		refs[f.name] = reference{results: comparable(h, rows), rows: cleanRowKeys(t, ref, r), clean: r.Counters[run.RowsClean]}
	}
	for _, seed := range seeds {
		i := int(seed) % len(files)
		f := files[i]
		// A file that succeeds may be superseded by the other such file.
		var next *chaosFile
		if i < 2 {
			next = &files[1-i]
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			chaosScenario(t, chaosFor(t, seed), f, next, refs)
		})
	}
}

func chaosSeeds(t *testing.T) []int64 {
	if v := os.Getenv("DROPCAST_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("DROPCAST_CHAOS_SEED=%q", v)
		}
		return []int64{n}
	}
	n := fastSeeds
	if v := os.Getenv("DROPCAST_CHAOS_SEEDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("DROPCAST_CHAOS_SEEDS=%q", v)
		}
	}
	seeds := make([]int64, n)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	return seeds
}

// chaosFor is seed's scenario; DROPCAST_CHAOS_LOST_MARKER_REPLIES=P
// replays it with lost marker replies at rate P.
func chaosFor(t *testing.T, seed int64) localstack.Chaos {
	ch := localstack.ChaosFor(seed)
	if v := os.Getenv("DROPCAST_CHAOS_LOST_MARKER_REPLIES"); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("DROPCAST_CHAOS_LOST_MARKER_REPLIES=%q", v)
		}
		ch.WithLostMarkerReplies(p)
	}
	return ch
}

func chaosScenario(t *testing.T, ch localstack.Chaos, f chaosFile, next *chaosFile, refs map[string]reference) {
	seed := ch.Seed
	supersede := ch.Supersede && next != nil
	replay := fmt.Sprintf("replay: DROPCAST_CHAOS_SEED=%d go test ./e2e -run TestChaos -v   (file %s; %s)", seed, f.name, ch)
	if supersede {
		replay += " (superseded by " + next.name + ")"
	}
	hook := newHookReceiver(t, http.StatusOK)
	evs := &eventLog{}
	s := mustStack(t, localstack.Options{Chaos: &ch, Configure: hook.configure, OnEvent: evs.add})
	ch.Arm(s)
	// Three minutes for each epoch the scenario runs: a rerun of a large
	// file under a 2 ms budget takes as long as its first epoch.
	epochs := 1 + ch.Reruns
	if ch.LateAnnouncement {
		epochs++
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(epochs)*3*time.Minute)
	defer cancel()
	if ch.SpecChange != "" {
		if err := warmSpecs(ctx, s); err != nil {
			t.Fatalf("%v\n%s", err, replay)
		}
	}
	if supersede {
		bq := ch.BigQuery
		bq.SlowJobs = ch.SupersedeSlowJob // the first upload's load job
		s.BQ.SetFaults(bq)
	}
	id, err := s.Drop(ctx, sampleObject(), f.data)
	if err != nil {
		t.Fatalf("drop: %v\n%s", err, replay)
	}
	sweeps := startChaosSweeps(ctx, s, ch)
	specSweeps := startSpecChangeSweeps(ctx, s, ch)
	ids := []string{id}
	final, want := f, refs[f.name]
	if supersede {
		// The same object again, with other data, while the first
		// upload's load job runs.
		awaitLoadJobOrEnd(ctx, t, s, id)
		s.BQ.SetFaults(ch.BigQuery)
		id2, err := s.Drop(ctx, sampleObject(), next.data)
		if err != nil {
			t.Fatalf("second drop: %v\n%s", err, replay)
		}
		ids = append(ids, id2)
		final, want = *next, refs[next.name]
	}
	// Reruns, a backfill, a late announcement: every one ends before the
	// runs are awaited, so the records awaited are of their last epochs.
	notes, problems := interventions(ctx, s, ch, sampleObject(), ids)
	for _, p := range problems {
		t.Errorf("%s\n%s", p, replay)
	}
	runs := make([]*run.Run, len(ids))
	for i, id := range ids {
		if runs[i], err = s.Wait(ctx, id, nil); err != nil {
			state := "no record"
			if r, gerr := s.App.Runs.Get(context.Background(), id); gerr == nil {
				b, _ := json.Marshal(r)
				state = string(b)
			}
			t.Fatalf("run %s never ended: %v; record: %s; %d tasks pending\n%s", id, err, state, s.Tasks.Pending(localstack.QueueID), replay)
		}
	}
	sweepFailed := sweeps.stop()
	specProblems := specSweeps.stop()
	for _, p := range specProblems {
		t.Errorf("%s\n%s", p, replay)
	}
	r := runs[len(runs)-1] // the newest upload's
	for _, r := range runs {
		notes = append(notes, fmt.Sprintf("run %s ended %s in epoch %d", r.ID, r.Status, r.Epoch))
	}
	t.Logf("%s", strings.Join(notes, "; "))

	wantStep := final.failStep
	if wantStep == "" && ch.FailPrediction {
		wantStep = run.Predict
	}
	switch {
	case wantStep == "" && r.Status != run.Succeeded:
		t.Fatalf("run %s: %s %+v, want succeeded\n%s", r.ID, r.Status, r.Error, replay)
	case wantStep != "" && (r.Status != run.Failed || r.Error == nil || r.Error.Step != wantStep):
		t.Fatalf("run %s: %s %+v, want failed in %s\n%s", r.ID, r.Status, r.Error, wantStep, replay)
	}
	// The sweeps never fail a run whose task waits in the queue.
	for _, failed := range sweepFailed {
		if slices.Contains(ids, failed) {
			t.Errorf("a sweep failed run %s as stalled\n%s", failed, replay)
		}
	}

	// The record tells the true story: every attempt a crash ended in a
	// run's last epoch is counted in its step's attempts, with the one that
	// succeeded.
	for _, r := range runs {
		for step, crashed := range s.CrashedAttemptsIn(r.ID, r.Epoch) {
			if st := r.StepState(step); st != nil && st.Status == run.StepDone && st.Attempts < crashed+1 {
				t.Errorf("run %s epoch %d step %s: %d attempts recorded, but %d were crashed before it succeeded\n%s", r.ID, r.Epoch, step, st.Attempts, crashed, replay)
			}
		}
	}
	if r.Status == run.Succeeded {
		h, rows := results(t, s, r)
		if got := comparable(h, rows); !slices.Equal(got, want.results) {
			t.Errorf("results differ from a fault-free run's: %d rows, want %d\n%s", len(got), len(want.results), replay)
		}
		if got := cleanRowKeys(t, s, r); !slices.Equal(got, want.rows) {
			t.Errorf("clean parts hold %d rows, want %d (lost or duplicated rows)\n%s", len(got), len(want.rows), replay)
		}
		// The tables hold exactly the newest upload's rows.
		for _, table := range []string{"purchases", "purchase_predictions"} {
			q := "SELECT COUNT(*) FROM `dropcast-local.sales." + table + "` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')"
			if n := queryInt(t, s, q); n != want.clean {
				t.Errorf("%s holds %d rows, want %d\n%s", table, n, want.clean, replay)
			}
		}
		// …the newest upload's and its last epoch's, whatever ran before.
		if err := checkTablesHoldLastEpoch(t, s, r, want.rows); err != nil {
			t.Errorf("%v\n%s", err, replay)
		}
	}
	// No file got a second run (a sweep after a spec change, say).
	if extra, err := unexpectedRuns(ctx, s, ids); err != nil || len(extra) > 0 {
		t.Errorf("runs other than %v: %v (%v)\n%s", ids, extra, err, replay)
	}
	if n := s.Vertex.DeployedModels() + s.AutoML.DeployedModels(); n != 0 {
		t.Errorf("%d models left deployed\n%s", n, replay)
	}
	idle, cancelIdle := context.WithTimeout(ctx, 30*time.Second)
	defer cancelIdle()
	if err := s.Tasks.WaitIdle(idle); err != nil {
		t.Errorf("tasks still pending after the run ended: %d\n%s", s.Tasks.Pending(localstack.QueueID), replay)
	}
	for _, id := range ids {
		// Once every delivery is done, the run's outcome has been
		// announced for its last epoch, even where a crash right after
		// the final commit, or a failed publication, lost the first try…
		final, err := s.App.Runs.Get(ctx, id)
		if err != nil || !final.Announced || !final.Terminal() {
			t.Errorf("run %s: outcome never announced (%v)\n%s", id, err, replay)
			continue
		}
		if err := awaitAnnouncedForLastEpoch(evs, final, 15*time.Second); err != nil {
			t.Errorf("%v\n%s", err, replay)
		}
		// …and the webhook received it at least once.
		if !awaitOutcomePosted(hook, final, 15*time.Second) {
			t.Errorf("run %s: the webhook never received its %s outcome for epoch %d\n%s", id, final.Status, final.Epoch, replay)
		}
	}
	// …and the run leaves the sweep's active index (a late duplicate of the
	// storage event may mark it again for a moment, and clears it again).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		marks, err := s.App.Runs.Active(ctx)
		if err == nil && len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			var ended []string
			for _, id := range ids {
				if r, err := s.App.Runs.Get(ctx, id); err == nil {
					ended = append(ended, fmt.Sprintf("%s %s epoch %d finished %s announced %v", id, r.Status, r.Epoch, r.FinishedAt.Format(time.StampMicro), r.Announced))
				}
			}
			t.Errorf("runs still marked active after the end: %v (%v); runs: %v\n%s", marks, err, ended, replay)
			break
		}
	}
}

// awaitLoadJobOrEnd waits until run id's load job has been inserted, or the
// run has ended.
func awaitLoadJobOrEnd(ctx context.Context, t *testing.T, s *localstack.Stack, id string) {
	t.Helper()
	for {
		r, err := s.App.Runs.Get(ctx, id)
		if err == nil {
			if r.Terminal() || slices.ContainsFunc(loadStepJobs(s), func(j string) bool { return strings.HasPrefix(j, load.JobID(r)) }) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s never started its load job", id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// awaitOutcomePosted reports whether the generic webhook received r's
// outcome for its epoch, waiting up to within.
func awaitOutcomePosted(h *hookReceiver, r *run.Run, within time.Duration) bool {
	want := events.RunSucceeded
	if r.Status == run.Failed {
		want = events.RunFailed
	}
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		for _, req := range h.requests(hookPath) {
			var ev events.Event
			if json.Unmarshal(req.body, &ev) == nil && ev.RunID == r.ID && ev.Epoch == r.Epoch && ev.Type == want {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// chaosSweeps calls the sweep, as Cloud Scheduler would, in a scenario with
// a queue backlog: every half grace while the backlog lasts, then every
// grace; in a scenario with reruns or a late announcement, every four
// graces (a rerun whose first task was not enqueued is the sweep's to
// re-drive).
type chaosSweeps struct {
	cancel context.CancelFunc
	done   chan struct{}
	failed []string // runs the sweeps failed
}

func startChaosSweeps(ctx context.Context, s *localstack.Stack, ch localstack.Chaos) *chaosSweeps {
	ctx, cancel := context.WithCancel(ctx)
	c := &chaosSweeps{cancel: cancel, done: make(chan struct{})}
	if ch.BacklogGraces == 0 && ch.Reruns == 0 && !ch.LateAnnouncement {
		close(c.done)
		return c
	}
	grace := sweep.New(s.Apps["sweep"]).Grace
	backlog := time.Duration(ch.BacklogGraces * float64(grace))
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	sweepOnce := func() {
		resp, err := http.Post(s.URL+"/sweep", "application/json", nil)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var rep sweep.Report
		if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&rep) == nil {
			c.failed = append(c.failed, rep.Failed...)
		}
	}
	go func() {
		defer close(c.done)
		if ch.BacklogGraces == 0 {
			for wait(4 * grace) {
				sweepOnce()
			}
			return
		}
		if !wait(ch.BacklogAfter) {
			return
		}
		tf := ch.Tasks
		tf.Backlog = backlog
		s.Tasks.SetFaults(tf)
		for end := time.Now().Add(backlog); time.Now().Before(end); {
			if !wait(grace / 2) {
				break
			}
			sweepOnce()
		}
		s.Tasks.SetFaults(ch.Tasks) // the backlog clears
		for wait(grace) {
			sweepOnce()
		}
	}()
	return c
}

// stop ends the sweeps and returns the runs they failed.
func (c *chaosSweeps) stop() []string {
	c.cancel()
	<-c.done
	return c.failed
}

// cleanRowKeys reads every clean part of a run and returns the _row values, sorted.
func cleanRowKeys(t *testing.T, s *localstack.Stack, r *run.Run) []string {
	t.Helper()
	var keys []string
	for _, name := range objectNames(t, s, localstack.WorkBucket, r.WorkPrefix()+"clean/") {
		recs, err := csv.NewReader(bytes.NewReader(readObject(t, s, "gs://"+localstack.WorkBucket+"/"+name))).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		col := slices.Index(recs[0], schema.RowKeyColumn)
		for _, rec := range recs[1:] {
			keys = append(keys, rec[col])
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	return keys
}
