package preprocess_test

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
	"testing"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/functions/preprocess"
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
	inboxBucket = "inbox"
	stateBucket = "state"
	workBucket  = "work"
)

// TestMain serves the Cloud Storage emulator when the harness starts the
// test binary as its emulator process (gcsemutest.StartProcess): the
// emulator's objects stay out of the heap the tests measure.
func TestMain(m *testing.M) {
	gcsemutest.ServeIfChild()
	os.Exit(m.Run())
}

// harness runs the preprocess step alone, as its own Cloud Run function
// would, against a Cloud Storage emulator in a child process.
type harness struct {
	app     *app.App
	gcs     *storage.Client
	handler http.Handler
}

type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, taskq.Task, time.Time) error { return nil }

// newHarness starts the emulator process and the step with the sample spec
// and a step budget.
func newHarness(tb testing.TB, budget time.Duration) *harness {
	tb.Helper()
	ctx := context.Background()
	endpoint := gcsemutest.StartProcess(tb, inboxBucket, stateBucket, workBucket)

	c := config.Default()
	c.Project, c.Region = "dropcast-local", "us-central1"
	c.InboxBucket, c.StateBucket, c.WorkBucket, c.ResultsBucket = inboxBucket, stateBucket, workBucket, "results"
	c.Specs = "gs://" + stateBucket + "/specs/"
	c.TasksQueue = "projects/dropcast-local/locations/us-central1/queues/q"
	c.StepBaseURL = "http://127.0.0.1:1"
	c.StorageEndpoint = endpoint
	// Never called by preprocess: unreachable.
	c.TasksEndpoint, c.BigQueryEndpoint, c.PubSubEndpoint = "127.0.0.1:1", "http://127.0.0.1:1/bigquery/v2/", "127.0.0.1:1"
	c.VertexEndpoint, c.AutoMLEndpoint = "127.0.0.1:1", "127.0.0.1:1"
	a, err := app.New(ctx, c, app.Options{Log: slog.New(slog.DiscardHandler), SpecTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	h := &harness{app: a, gcs: a.Clients.Storage}
	h.put(tb, stateBucket, "specs/"+sample.SpecName, bytes.NewReader(sample.Spec))
	// With a budget of a millisecond every invocation stops at its first
	// chance (after clean.DefaultStopEvery records), so each one writes one
	// clean part and one rejects part; the safety margin leaves the commit
	// time under the lease.
	k := kernel.New(kernel.Deps{
		Store: a.Runs, Queue: nopQueue{}, Specs: a.Specs,
		Config: kernel.Config{Project: c.Project, Budget: budget, SafetyMargin: 5 * time.Second, PollInterval: 10 * time.Millisecond, MaxAttempts: 5},
	})
	h.handler = k.Handler(preprocess.New(a))
	return h
}

// put stores r as bucket/object and returns its generation.
func (h *harness) put(tb testing.TB, bucket, object string, r io.Reader) int64 {
	tb.Helper()
	w := h.gcs.Bucket(bucket).Object(object).NewWriter(context.Background())
	if _, err := io.Copy(w, r); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return w.Attrs().Generation
}

// cats are the sample's categories.
var cats = []string{"grocery", "apparel", "electronics", "home", "toys"}

// sourceRows streams a sample-spec CSV of rows rows, one in 40 rejected
// (a category the spec does not allow), so rejects parts have rows too.
func sourceRows(rows int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		fmt.Fprintln(bw, "date,store_id,item_id,category,price,quantity,promo,note")
		for i := range rows {
			cat := cats[i%5]
			if i%40 == 39 {
				cat = "garden"
			}
			fmt.Fprintf(bw, "2026-04-26,%d,SKU-%05d,%s,%d.%02d,%d,%t,\"note, %d\"\n", 1+i%7, i%100000, cat, 5+i%300, i%100, 1+i%4, i%3 == 0, i)
		}
		pw.CloseWithError(bw.Flush())
	}()
	return pr
}

// newRun uploads a source file of rows rows and creates its run at the
// preprocess step.
func (h *harness) newRun(tb testing.TB, name string, rows int) *run.Run {
	tb.Helper()
	object := "incoming/" + name + ".csv"
	gen := h.put(tb, inboxBucket, object, sourceRows(rows))
	src := run.Source{Bucket: inboxBucket, Object: object, Generation: gen}
	r := run.New(run.ID("purchases", src), "purchases", src, "20260426", []string{run.Preprocess, run.Load}, time.Now())
	if err := h.app.Runs.Create(context.Background(), r); err != nil {
		tb.Fatal(err)
	}
	return r
}

// deliver delivers the run's current task once.
func (h *harness) deliver(tb testing.TB, r *run.Run) {
	tb.Helper()
	body, _ := json.Marshal(taskq.Task{RunID: r.ID, Epoch: r.Epoch, Step: r.Step, Segment: r.Segment})
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/preprocess", bytes.NewReader(body)))
	if rec.Code >= 300 {
		tb.Fatalf("delivery of segment %d: %d %s", r.Segment, rec.Code, rec.Body)
	}
}

// current reads the run's record.
func (h *harness) current(tb testing.TB, id string) *run.Run {
	tb.Helper()
	r, err := h.app.Runs.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// liveHeap is the live heap after a full collection.
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// allocated is the bytes allocated since the process started.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// TestInvocationsDoNotAccumulate serves many preprocess invocations in one
// process, as a Cloud Run instance serves request after request: runs of
// 50,000 rows, one after another, each in segments of a 40 ms budget. After
// each invocation it measures the live heap after a full collection and the
// goroutines. Neither may grow with the invocations served: whatever one
// invocation keeps past its end (a storage writer never closed, with its
// upload buffer and goroutine; a cache keyed by run or segment) adds up over
// the hundreds of segments of a large file and the runs of an instance's
// life. The first invocations warm up the clients (connections, the spec
// cache) and are the baseline.
//
// Garbage counts too: the heap grows to twice what was live at the last
// collection, and an instance's peak resident memory is the worst such
// moment over every invocation it serves. So the bytes an invocation
// allocates are bounded as well; a writer's upload buffer is allocated
// whole (16 MiB by the client's default), and the cleaning of a 40 ms
// segment allocates a megabyte or two.
func TestInvocationsDoNotAccumulate(t *testing.T) {
	if testing.Short() {
		t.Skip("serves 80 invocations")
	}
	const (
		warmup      = 10
		invocations = 80
		rows        = 50000
	)
	h := newHarness(t, 40*time.Millisecond)
	heap := make([]uint64, 0, invocations)
	goroutines := make([]int, 0, invocations)
	var r *run.Run
	runs := 0
	var alloc uint64 // by the invocations after the warm-up that cleaned rows
	working := 0
	for n := 0; n < invocations; n++ {
		if r == nil || r.Step != run.Preprocess {
			runs++
			r = h.newRun(t, fmt.Sprintf("20260426-%06d", runs), rows)
		}
		before := r.Counters[run.RowsIn]
		a0 := allocated()
		h.deliver(t, r)
		a := allocated() - a0
		r = h.current(t, r.ID)
		if r.Status == run.Failed {
			t.Fatalf("run %d failed: %+v", runs, r.Error)
		}
		if r.Step != run.Preprocess && r.Counters[run.RowsIn] != rows {
			t.Fatalf("run %d done with %d rows in, want %d", runs, r.Counters[run.RowsIn], rows)
		}
		// An invocation whose budget is gone before its first part (on a
		// loaded machine) cleans nothing and commits its checkpoint again.
		if n >= warmup && (r.Step != run.Preprocess || r.Counters[run.RowsIn] > before) {
			working++
			alloc += a
		}
		heap = append(heap, liveHeap())
		goroutines = append(goroutines, runtime.NumGoroutine())
	}
	if runs < 3 || working < (invocations-warmup)/2 {
		t.Fatalf("%d invocations served %d runs, %d after the warm-up cleaned rows: want at least 3 runs and half of them", invocations, runs, working)
	}
	base, last := heap[warmup-1], heap[invocations-1]
	t.Logf("%d invocations (%d after the warm-up cleaned rows) over %d runs; live heap %.2f MiB after invocation %d, %.2f MiB after %d; goroutines %d and %d",
		invocations, working, runs, mib(base), warmup, mib(last), invocations, goroutines[warmup-1], goroutines[invocations-1])
	// A leaked storage writer keeps its upload buffer (16 MiB by default), a
	// segment's cleaner about 1 MiB: leaking either per invocation passes
	// 2 MiB over 70 invocations many times over, while the clients' pools
	// (idle connections, HTTP/2 buffers) level off after the warm-up.
	if last > base+2<<20 {
		t.Errorf("live heap grew by %.2f MiB over %d invocations (%.0f KiB each): %.2f MiB after invocation %d, %.2f MiB after %d",
			mib(last-base), invocations-warmup, float64(last-base)/1024/float64(invocations-warmup), mib(base), warmup, mib(last), invocations)
	}
	// Two buffers of 4 MiB (clean part) and 1 MiB (rejects) and the
	// cleaning; two of the client's default 16 MiB are 32 MiB.
	perInvocation := alloc / uint64(working)
	t.Logf("%.1f MiB allocated per invocation", mib(perInvocation))
	if perInvocation > 12<<20 {
		t.Errorf("each invocation allocates %.1f MiB (garbage the heap grows by between collections), want at most 12 MiB", mib(perInvocation))
	}
	if g0, g := goroutines[warmup-1], goroutines[invocations-1]; g > g0+4 {
		t.Errorf("goroutines grew from %d after invocation %d to %d after %d: invocations leave goroutines running", g0, warmup, g, invocations)
	}
}
