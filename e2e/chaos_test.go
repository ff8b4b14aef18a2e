package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

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
		f := files[int(seed)%len(files)]
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			chaosScenario(t, seed, f, refs[f.name])
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

func chaosScenario(t *testing.T, seed int64, f chaosFile, want reference) {
	ch := localstack.ChaosFor(seed)
	replay := fmt.Sprintf("replay: DROPCAST_CHAOS_SEED=%d go test ./e2e -run TestChaos -v   (file %s; %s)", seed, f.name, ch)
	s := mustStack(t, localstack.Options{Chaos: &ch})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := s.Drop(ctx, sampleObject(), f.data)
	if err != nil {
		t.Fatalf("drop: %v\n%s", err, replay)
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil {
		t.Fatalf("the run never ended: %v\n%s", err, replay)
	}

	wantStep := f.failStep
	if wantStep == "" && ch.FailPrediction {
		wantStep = run.Predict
	}
	switch {
	case wantStep == "" && r.Status != run.Succeeded:
		t.Fatalf("run %s: %s %+v, want succeeded\n%s", r.ID, r.Status, r.Error, replay)
	case wantStep != "" && (r.Status != run.Failed || r.Error == nil || r.Error.Step != wantStep):
		t.Fatalf("run %s: %s %+v, want failed in %s\n%s", r.ID, r.Status, r.Error, wantStep, replay)
	}

	// The record tells the true story: every attempt a crash ended is counted.
	for step, crashed := range s.CrashedAttempts() {
		if st := r.StepState(step); st != nil && st.Attempts < crashed+1 && st.Status == run.StepDone {
			t.Errorf("step %s: %d attempts recorded, but %d were crashed before one succeeded\n%s", step, st.Attempts, crashed, replay)
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
		for _, table := range []string{"purchases", "purchase_predictions"} {
			q := "SELECT COUNT(*) FROM `dropcast-local.sales." + table + "` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')"
			if n := queryInt(t, s, q); n != want.clean {
				t.Errorf("%s holds %d rows, want %d\n%s", table, n, want.clean, replay)
			}
		}
	}
	if n := s.Vertex.DeployedModels() + s.AutoML.DeployedModels(); n != 0 {
		t.Errorf("%d models left deployed\n%s", n, replay)
	}
	idle, cancelIdle := context.WithTimeout(ctx, 30*time.Second)
	defer cancelIdle()
	if err := s.Tasks.WaitIdle(idle); err != nil {
		t.Errorf("tasks still pending after the run ended: %d\n%s", s.Tasks.Pending(localstack.QueueID), replay)
	}
	// Once every delivery is done, the run's outcome has been announced,
	// even where a crash right after the final commit lost the first try.
	if final, err := s.App.Runs.Get(ctx, r.ID); err != nil || !final.Announced {
		t.Errorf("run outcome never announced (%v)\n%s", err, replay)
	}
	// …and the run leaves the sweep's active index (a late duplicate of the
	// storage event may mark it again for a moment, and clears it again).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		marks, err := s.App.Runs.Active(ctx)
		if err == nil && len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("runs still marked active after the end: %v (%v)\n%s", marks, err, replay)
			break
		}
	}
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
