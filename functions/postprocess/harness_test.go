package postprocess_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/functions/postprocess"
	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/taskq"
)

// Buckets of the harness.
const (
	stateBucket   = "state"
	workBucket    = "work"
	resultsBucket = "results"
)

// TestMain serves the Cloud Storage emulator when the harness starts the
// test binary as its emulator process (gcsemutest.StartProcess): the
// emulator's objects stay out of the heap the tests measure.
func TestMain(m *testing.M) {
	gcsemutest.ServeIfChild()
	os.Exit(m.Run())
}

// harness runs the postprocess step alone, as its own Cloud Run function
// would, against a Cloud Storage emulator in a child process.
type harness struct {
	app     *app.App
	gcs     *storage.Client
	handler http.Handler
}

type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, taskq.Task, time.Time) error { return nil }

// newHarness starts the emulator process and the step with spec (YAML) and
// a step budget.
func newHarness(tb testing.TB, spec []byte, budget time.Duration) *harness {
	tb.Helper()
	ctx := context.Background()
	endpoint := gcsemutest.StartProcess(tb, stateBucket, workBucket, resultsBucket)

	c := config.Default()
	c.Project, c.Region = "dropcast-local", "us-central1"
	c.InboxBucket, c.StateBucket, c.WorkBucket, c.ResultsBucket = "inbox", stateBucket, workBucket, resultsBucket
	c.Specs = "gs://" + stateBucket + "/specs/"
	c.TasksQueue = "projects/dropcast-local/locations/us-central1/queues/q"
	c.StepBaseURL = "http://127.0.0.1:1"
	c.StorageEndpoint = endpoint
	// Never called by postprocess without a results table: unreachable.
	c.TasksEndpoint, c.BigQueryEndpoint, c.PubSubEndpoint = "127.0.0.1:1", "http://127.0.0.1:1/bigquery/v2/", "127.0.0.1:1"
	c.VertexEndpoint, c.AutoMLEndpoint = "127.0.0.1:1", "127.0.0.1:1"
	a, err := app.New(ctx, c, app.Options{Log: slog.New(slog.DiscardHandler), SpecTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	h := &harness{app: a, gcs: a.Clients.Storage}
	h.put(tb, stateBucket, "specs/"+sample.SpecName, bytes.NewReader(spec))
	k := kernel.New(kernel.Deps{
		Store: a.Runs, Queue: nopQueue{}, Specs: a.Specs,
		Config: kernel.Config{Project: c.Project, Budget: budget, SafetyMargin: time.Second, PollInterval: 10 * time.Millisecond, MaxAttempts: 5},
	})
	h.handler = k.Handler(postprocess.New(a))
	return h
}

func (h *harness) put(tb testing.TB, bucket, object string, r io.Reader) {
	tb.Helper()
	w := h.gcs.Bucket(bucket).Object(object).NewWriter(context.Background())
	if _, err := io.Copy(w, r); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

func (h *harness) get(tb testing.TB, bucket, object string) string {
	tb.Helper()
	r, err := h.gcs.Bucket(bucket).Object(object).NewReader(context.Background())
	if err != nil {
		tb.Fatalf("read %s: %v", object, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// cats are the sample's categories.
var cats = []string{"grocery", "apparel", "electronics", "home", "toys"}

// cleanRow is sample row i (its row key is i+2, its line in the file).
func cleanRow(i int) string {
	return fmt.Sprintf("2026-04-26,%d,SKU-%05d,%s,%d.%02d,%d,%t,\"note, %d\",%d", 1+i%7, i%100000, cats[i%5], 5+i%300, i%100, 1+i%4, i%3 == 0, i, i+2)
}

// score is row i's made-up score of class true.
func score(i int) float64 { return float64(i%1000) / 1000 }

// newRun creates a run at the postprocess step whose prediction output
// (Vertex AI's batch layout, files of perFile rows) and clean parts hold
// rows rows; order permutes the rows within each predictions file, and
// edit, if set, changes the run before it is stored.
func (h *harness) newRun(tb testing.TB, name string, rows, perFile int, order func(n int) []int, edit ...func(*run.Run)) *run.Run {
	tb.Helper()
	ctx := context.Background()
	src := run.Source{Bucket: "inbox", Object: "incoming/" + name + ".csv", Generation: 1}
	now := time.Now()
	r := run.New(run.ID("purchases", src), "purchases", src, "20260426", []string{run.Predict, run.Postprocess}, now)
	r.Steps[0].Status, r.Steps[0].FinishedAt = run.StepDone, now
	r.Step = run.Postprocess
	dir := "gs://" + workBucket + "/" + r.WorkPrefix() + "predictions/prediction-demo-returns-2026-04-26T12:00:00.000Z"
	r.Outputs["predictions"] = dir
	r.Counters[run.RowsClean] = int64(rows)
	const header = "date,store_id,item_id,category,price,quantity,promo,note,dropcast_row"
	for f, first := 0, 0; first < rows; f, first = f+1, first+perFile {
		n := min(perFile, rows-first)
		clean, preds := pipeRows(func(w io.Writer) {
			fmt.Fprintln(w, header)
			for i := first; i < first+n; i++ {
				fmt.Fprintln(w, cleanRow(i))
			}
		}), pipeRows(func(w io.Writer) {
			fmt.Fprintln(w, header+",returned_false_score,returned_true_score")
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			if order != nil {
				idx = order(n)
			}
			for _, j := range idx {
				i := first + j
				fmt.Fprintf(w, "%s,%g,%g\n", cleanRow(i), 1-score(i), score(i))
			}
		})
		h.put(tb, workBucket, fmt.Sprintf("%sclean/part-%05d.csv", r.WorkPrefix(), f), clean)
		h.put(tb, workBucket, strings.TrimPrefix(dir, "gs://"+workBucket+"/")+fmt.Sprintf("/predictions_%d.csv", f+1), preds)
	}
	for _, e := range edit {
		e(r)
	}
	if err := h.app.Runs.Create(ctx, r); err != nil {
		tb.Fatal(err)
	}
	return r
}

// pipeRows streams what write writes.
func pipeRows(write func(w io.Writer)) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		write(bw)
		pw.CloseWithError(bw.Flush())
	}()
	return pr
}

// deliver delivers the run's current task once.
func (h *harness) deliver(tb testing.TB, id string) {
	tb.Helper()
	r, err := h.app.Runs.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(taskq.Task{RunID: id, Epoch: r.Epoch, Step: r.Step, Segment: r.Segment})
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/postprocess", bytes.NewReader(body)))
	if rec.Code >= 300 {
		tb.Fatalf("delivery: %d %s", rec.Code, rec.Body)
	}
}

// finish delivers the run's task until postprocess is no longer its step,
// and returns the run and the deliveries it took.
func (h *harness) finish(tb testing.TB, id string) (*run.Run, int) {
	tb.Helper()
	ctx := context.Background()
	for n := 1; ; n++ {
		r, err := h.app.Runs.Get(ctx, id)
		if err != nil {
			tb.Fatal(err)
		}
		if r.Step != run.Postprocess || r.Terminal() {
			return r, n - 1
		}
		if n > 10000 {
			tb.Fatalf("postprocess not done after %d deliveries: %+v", n, r.StepState(run.Postprocess))
		}
		h.deliver(tb, id)
	}
}

// peakHeap samples the live heap (after a forced GC) every few
// milliseconds until stop is called, which returns the highest sample less
// the live heap when it started.
func peakHeap() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - base
	}
}
