package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
)

// TestProcessesMatchInProcess runs the sample with every function as its own
// process and in one process: the results are the same rows, and each
// function process that served the run has a measured peak. State shared by
// accident between functions in one process (a cache, a global) would show
// here as a difference.
func TestProcessesMatchInProcess(t *testing.T) {
	t.Parallel()
	data := bigSample(4) // 1,920 rows
	ref := mustStack(t, localstack.Options{})
	refRun := dropAndWait(t, ref, sampleObject(), data)

	s := mustStack(t, localstack.Options{Processes: true, Configure: func(c *config.Config) {
		c.SafetyMargin = c.StepTimeout - 2*time.Millisecond // preprocess segments too
	}})
	r := dropAndWait(t, s, sampleObject(), data)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s with processes: %s %+v", r.ID, r.Status, r.Error)
	}
	for _, step := range []string{run.Preprocess, run.Load, run.Predict, run.Postprocess} {
		if seg := r.StepState(step).Segments; seg == 0 {
			t.Errorf("%s never checkpointed (segments 0): the run did not cross processes mid-step", step)
		}
	}
	h1, rows1 := results(t, ref, refRun)
	h2, rows2 := results(t, s, r)
	if !slices.Equal(h1, h2) {
		t.Fatalf("results header with processes %v, in process %v", h2, h1)
	}
	a, b := comparable(h1, rows1), comparable(h2, rows2)
	slices.Sort(a)
	slices.Sort(b)
	if len(a) != int(refRun.Counters[run.RowsClean]) || !slices.Equal(a, b) {
		t.Fatalf("results differ: %d rows in process, %d with processes (%d clean)", len(a), len(b), refRun.Counters[run.RowsClean])
	}
	peaks := s.PeakRSS()
	for _, fn := range []string{"ingest", "preprocess", "load", "predict", "postprocess", "notify"} {
		if peaks[fn] < 1<<20 {
			t.Errorf("%s process: peak RSS %d bytes, want a measurement", fn, peaks[fn])
		}
	}
}

// TestProcessesRefuseChaos: chaos crashes are kernel hooks in the
// functions' process, which processes do not have.
func TestProcessesRefuseChaos(t *testing.T) {
	ch := localstack.ChaosFor(1)
	s, err := localstack.Start(context.Background(), localstack.Options{Processes: true, Chaos: &ch})
	if err == nil {
		s.Close()
		t.Fatal("Start with Processes and Chaos succeeded")
	}
}

// stepMemorySpec is the sample pipeline over scripts/bench/gen's purchases
// columns: any item ID and category, 2.5% bad rows rejected.
const stepMemorySpec = `name: purchases
match: '^incoming/(?P<date>\d{8})-\d{6}\.csv$'
input:
  delimiter: ","
  header: true
columns:
  - {name: date, type: DATE, required: true}
  - {name: store_id, type: INT64, required: true, min: "1"}
  - {name: item_id, type: STRING, required: true}
  - {name: category, type: STRING, required: true}
  - {name: price, type: NUMERIC, required: true, min: "0"}
  - {name: quantity, type: INT64, required: true, min: "1"}
  - {name: promo, type: BOOL, required: true}
  - {name: note, type: STRING, trim: true}
reject_threshold:
  max_ratio: 0.05
destination:
  table: sales.purchases
  write_mode: replace_partition
predict:
  backend: vertex
  mode: batch
  model: projects/dropcast-local/locations/us-central1/models/demo-returns
results:
  table: sales.purchase_predictions
`

// stepMemoryFunctions are the functions a file's run goes through.
var stepMemoryFunctions = []string{"ingest", "preprocess", "load", "predict", "postprocess", "notify"}

// BenchmarkStepMemory runs the whole pipeline with every function as its own
// process on generated purchases files of 100,000 and 3,000,000 rows, with a
// budget that makes every step checkpoint, and reports each function's peak
// resident memory (peak-RSS-MiB, as Cloud Run's memory limit counts it) and
// each step's time. It fails when a step did not segment, when a clean row
// has no prediction, when the results differ from an unsegmented in-process
// run's (as a multiset of rows), and when a step's peak at 3,000,000 rows is
// above 1.25× its peak at 100,000 or postprocess's is 128 MiB or more.
//
// Both sizes take about 8 minutes on 2 cores (the 3,000,000-row case about
// 11 GB in the test's own process, for the emulators), hence the timeout:
//
//	go test ./e2e -run '^$' -bench StepMemory -benchtime 1x -timeout 60m
func BenchmarkStepMemory(b *testing.B) {
	dir := b.TempDir()
	gen := filepath.Join(dir, "gen")
	functions := filepath.Join(dir, "functions")
	for pkg, out := range map[string]string{"../scripts/bench/gen": gen, "../cmd/functions": functions} {
		if out, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	peaks := map[int]map[string]int64{}
	for _, rows := range []int{100_000, 3_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			for range b.N {
				peaks[rows] = stepMemory(b, gen, functions, rows)
			}
		})
	}
	small, large := peaks[100_000], peaks[3_000_000]
	if small == nil || large == nil {
		return // one size only (-bench filter): nothing to compare
	}
	for _, fn := range stepMemoryFunctions {
		if ratio := float64(large[fn]) / float64(small[fn]); ratio > 1.25 {
			b.Errorf("%s: peak RSS %.1f MiB at 3,000,000 rows, %.2f× its %.1f MiB at 100,000 (at most 1.25×)", fn, mib(large[fn]), ratio, mib(small[fn]))
		}
	}
	for rows, p := range peaks {
		if p["postprocess"] >= 128<<20 {
			b.Errorf("postprocess: peak RSS %.1f MiB at %d rows (want under 128 MiB)", mib(p["postprocess"]), rows)
		}
	}
}

// stepMemoryBudgetEnv, set to a duration (250ms), replaces the budget of a
// fifth of the reference's preprocess time, to compare memory at a fixed
// budget: the smaller the budget, the more segments (invocations) each
// function process serves.
const stepMemoryBudgetEnv = "DROPCAST_STEP_MEMORY_BUDGET"

// stepMemory runs one file of rows through the pipeline twice — in process
// without segmenting (the reference), then with processes and a budget of a
// fifth of the reference's preprocess time, so that preprocess checkpoints
// whatever the machine's speed (load, predict and postprocess checkpoint
// while they poll their jobs) — checks the second run and reports its
// figures. It returns the processes' peaks.
func stepMemory(b *testing.B, gen, functions string, rows int) map[string]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	defer cancel()
	specs := map[string][]byte{"purchases.yaml": []byte(stepMemorySpec)}
	object := "incoming/20260426-120000.csv"

	b.StopTimer()
	ref, err := localstack.Start(ctx, localstack.Options{Specs: specs, Latency: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	refRun := dropGenerated(ctx, b, ref, gen, object, rows)
	refDigest := resultsDigest(ctx, b, ref, refRun)
	ref.Close()
	for _, st := range refRun.Steps {
		if st.Segments > 0 && st.Name != run.Load && st.Name != run.Predict && st.Name != run.Postprocess {
			b.Fatalf("reference run: %s segmented (%d); the reference must not", st.Name, st.Segments)
		}
	}

	pre := refRun.StepState(run.Preprocess)
	budget := max(10*time.Millisecond, pre.FinishedAt.Sub(pre.StartedAt)/5)
	if v := os.Getenv(stepMemoryBudgetEnv); v != "" {
		if budget, err = time.ParseDuration(v); err != nil || budget <= 0 {
			b.Fatalf("%s=%q: want a positive duration (%v)", stepMemoryBudgetEnv, v, err)
		}
	}
	b.ReportMetric(budget.Seconds(), "budget-s")

	b.StartTimer()
	s, err := localstack.Start(ctx, localstack.Options{
		Specs: specs, Latency: 50 * time.Millisecond, Processes: true, FunctionsBinary: functions,
		Configure: func(c *config.Config) {
			c.StepTimeout = budget + c.SafetyMargin
			c.DispatchDeadline = max(15*time.Second, c.StepTimeout)
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := dropGenerated(ctx, b, s, gen, object, rows)
	b.StopTimer()
	peaks := s.PeakRSS()

	if r.Status != run.Succeeded {
		b.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	for _, step := range []string{run.Preprocess, run.Load, run.Predict, run.Postprocess} {
		st := r.StepState(step)
		if st.Segments == 0 {
			b.Errorf("%s did not segment at %d rows (budget %s): its memory was not measured across checkpoints", step, rows, budget)
		}
		b.ReportMetric(st.FinishedAt.Sub(st.StartedAt).Seconds(), step+"-s")
		b.ReportMetric(float64(st.Segments), step+"-segments")
	}
	c := r.Counters
	if c[run.RowsIn] != int64(rows) || c[run.RowsClean]+c[run.RowsRejected] != int64(rows) {
		b.Fatalf("counters %v: want %d rows in", c, rows)
	}
	if c[run.RowsPredicted] != c[run.RowsClean] || c[run.RowsErrored] != 0 || c[run.RowsResults] != c[run.RowsClean] {
		b.Fatalf("counters %v: every clean row must be predicted and in the results", c)
	}
	got := resultsDigest(ctx, b, s, r)
	if got != refDigest {
		b.Fatalf("results with processes and a %s budget: %d rows (digest %x); unsegmented in-process run: %d rows (digest %x)",
			budget, got.rows, got.sum, refDigest.rows, refDigest.sum)
	}
	for _, fn := range stepMemoryFunctions {
		b.ReportMetric(mib(peaks[fn]), fn+"-peak-RSS-MiB")
	}
	b.Logf("%d rows: peak RSS MiB %s", rows, peakTable(peaks))
	return peaks
}

// dropGenerated streams rows of scripts/bench/gen's output into the inbox
// as object (the test never holds the file) and waits for its run.
func dropGenerated(ctx context.Context, b *testing.B, s *localstack.Stack, gen, object string, rows int) *run.Run {
	b.Helper()
	cmd := exec.CommandContext(ctx, gen, "-rows", strconv.Itoa(rows), "-o", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := s.Storage.Bucket(localstack.InboxBucket).Object(object).NewWriter(ctx)
	_, copyErr := io.Copy(w, out)
	if err := errors.Join(copyErr, cmd.Wait(), w.Close()); err != nil {
		b.Fatalf("upload %s: %v", object, err)
	}
	id, err := s.RunID(ctx, object, w.Attrs().Generation)
	if err != nil || id == "" {
		b.Fatalf("run ID of %s: %q, %v", object, id, err)
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil {
		b.Fatal(err)
	}
	if r.Status != run.Succeeded {
		b.Fatalf("run %s: %s %+v", r.ID, r.Status, r.Error)
	}
	return r
}

// digest identifies a multiset of result rows without holding them: the
// count and the sum of each row's SHA-256 (first 8 bytes), run ID and
// prediction time left out (comparable).
type digest struct {
	rows int64
	sum  uint64
}

// resultsDigest streams a run's results CSV into its digest.
func resultsDigest(ctx context.Context, b *testing.B, s *localstack.Stack, r *run.Run) digest {
	b.Helper()
	bucket, name, err := gcsuri.Split(r.Outputs["results"])
	if err != nil {
		b.Fatalf("run %s results %q: %v", r.ID, r.Outputs["results"], err)
	}
	rd, err := s.Storage.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	cr := csv.NewReader(rd)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		b.Fatalf("results header: %v", err)
	}
	header = slices.Clone(header)
	var d digest
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return d
		}
		if err != nil {
			b.Fatalf("results: %v", err)
		}
		h := sha256.Sum256([]byte(comparable(header, [][]string{rec})[0]))
		d.rows++
		d.sum += binary.BigEndian.Uint64(h[:8])
	}
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

func peakTable(peaks map[string]int64) string {
	var out string
	for _, fn := range stepMemoryFunctions {
		out += fmt.Sprintf(" %s=%.1f", fn, mib(peaks[fn]))
	}
	return out
}
