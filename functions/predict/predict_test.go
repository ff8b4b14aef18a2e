package predict_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/predict"
	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// clock is the kernel's clock: real time plus a skew the test advances.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time                                          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) advance(d time.Duration)                                 { c.skew.Add(int64(d)) }
func (q *nopQueue) Enqueue(context.Context, taskq.Task, time.Time) error { return nil }

type nopQueue struct{}

// deliver hands the run's current task to h as Cloud Tasks would, and
// waits for the delivery to end (or to die: a Goexit in the step).
func deliver(t *testing.T, h http.Handler, runs *run.Store, id string) {
	t.Helper()
	r, err := runs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(taskq.Task{RunID: id, Epoch: r.Epoch, Step: r.Step, Segment: r.Segment})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/predict", bytes.NewReader(body)))
	}()
	<-done
}

func TestCrashAfterTheDeployIsSavedIsRecoveredByTheNextDelivery(t *testing.T) {
	ctx := context.Background()
	online := bytes.Replace(sample.Spec, []byte("mode: batch"), []byte("mode: online"), 1)
	st, err := localstack.Start(ctx, localstack.Options{Specs: map[string][]byte{sample.SpecName: online}, Latency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// A run at the predict step, with two clean parts.
	src := run.Source{Bucket: localstack.InboxBucket, Object: "incoming/20260426-120000.csv", Generation: 1}
	r := run.New(run.ID("purchases", src), "purchases", src, "20260426", []string{run.Predict, run.Postprocess}, time.Now())
	if err := st.App.Runs.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	prefix := r.WorkPrefix() + "clean/"
	predict.WriteCleanPart(t, st.Storage, localstack.WorkBucket, prefix+"part-00000.csv", 0, 150)
	predict.WriteCleanPart(t, st.Storage, localstack.WorkBucket, prefix+"part-00001.csv", 150, 130)

	var c clock
	k := kernel.New(kernel.Deps{
		Store: st.App.Runs, Queue: &nopQueue{}, Specs: st.App.Specs, Now: c.now,
		Config: kernel.Config{Budget: time.Minute, SafetyMargin: time.Second, PollInterval: 10 * time.Millisecond, MaxAttempts: 5},
	})
	step := predict.New(st.App)
	var mu sync.Mutex
	var saved []string
	step.SetAfterSave(func(phase string) {
		mu.Lock()
		saved = append(saved, phase)
		first := phase == predict.PhaseDeploy && !slices.Contains(saved[:len(saved)-1], predict.PhaseDeploy)
		mu.Unlock()
		if first {
			runtime.Goexit() // the instance dies right after saving the deploy operation
		}
	})
	h := k.Handler(step)

	deliver(t, h, st.App.Runs, r.ID)
	r, _ = st.App.Runs.Get(ctx, r.ID)
	var cp predict.Checkpoint
	json.Unmarshal(r.StepState(run.Predict).Checkpoint, &cp)
	if cp.Phase != predict.PhaseDeploy || cp.DeployOp == "" || r.StepState(run.Predict).Lease == nil {
		t.Fatalf("after the crash: checkpoint %+v, lease %v; want the deploy operation saved under a live lease", cp, r.StepState(run.Predict).Lease)
	}

	// The lease runs out; Cloud Tasks delivers again until the step is done.
	c.advance(2 * time.Minute)
	for i := 0; r.Step == run.Predict; i++ {
		if i > 200 {
			t.Fatalf("predict not done after %d deliveries: %+v", i, r.StepState(run.Predict))
		}
		deliver(t, h, st.App.Runs, r.ID)
		time.Sleep(10 * time.Millisecond)
		if r, err = st.App.Runs.Get(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := slices.Index(saved, predict.PhaseDeploy); n < 0 || slices.Contains(saved[n+1:], predict.PhaseDeploy) {
		t.Fatalf("saved phases %v: the deployment was started more than once", saved)
	}
	if r.Status != run.Running || r.Outputs["predictions"] == "" {
		t.Fatalf("run %s status %s outputs %v", r.ID, r.Status, r.Outputs)
	}
	b, err := st.App.Predictor(ctx, "vertex")
	if err != nil {
		t.Fatal(err)
	}
	pipeline, err := spec.Parse(sample.SpecName, sample.Spec)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	// Postprocess reads the files the finished step records.
	files := int(r.Counters[predictor.CounterOutputFiles])
	if files == 0 {
		t.Fatalf("counters %v: the online mode recorded no %s", r.Counters, predictor.CounterOutputFiles)
	}
	out := predictor.Output{Dir: r.Outputs["predictions"], Input: pipeline.CleanHeader(), Files: files}
	if _, err := predictor.ReadAll(ctx, b, out, func(p *predictor.Row) error {
		keys[p.RowKey]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 280 {
		t.Fatalf("%d rows predicted, want 280", len(keys))
	}
	for k, n := range keys {
		if n != 1 {
			t.Fatalf("row %s predicted %d times", k, n)
		}
	}
	if n := st.Vertex.DeployedModels(); n != 0 {
		t.Fatalf("%d models still deployed", n)
	}
	rec, err := holds.NewStore(st.Storage, localstack.StateBucket).Get(ctx, "vertex", "projects/dropcast-local/locations/us-central1/models/demo-returns")
	if err != nil || len(rec.Holders) != 0 || rec.Deployed || rec.Undeploy != nil {
		t.Fatalf("hold record %+v, %v", rec, err)
	}
}
