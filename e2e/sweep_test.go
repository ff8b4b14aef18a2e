package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/holds"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// shortBudget makes stalls visible within a test: a 1s budget, so a run with
// no progress for a few seconds counts as stalled.
func shortBudget(c *config.Config) {
	c.StepTimeout, c.DispatchDeadline, c.SafetyMargin = 2*time.Second, 15*time.Second, time.Second
}

// callSweep calls the sweep function as Cloud Scheduler does.
func callSweep(t *testing.T, s *localstack.Stack) sweep.Report {
	t.Helper()
	resp, err := http.Post(s.URL+"/sweep", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sweep answered %d", resp.StatusCode)
	}
	var rep sweep.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestSweepStartsRunWhoseEventWasLost(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{LoseEvent: func(string) bool { return true }})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := s.Drop(ctx, sampleObject(), sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the event had its chance
	if _, err := s.App.Runs.Get(ctx, id); err == nil {
		t.Fatal("a run started although its event was lost")
	}
	rep := callSweep(t, s)
	if len(rep.Started) != 1 || rep.Started[0] != id {
		t.Fatalf("sweep report %+v, want run %s started", rep, id)
	}
	r, err := s.Wait(ctx, id, nil)
	if err != nil || r.Status != run.Succeeded {
		t.Fatalf("run %v: %v", r, err)
	}
	if again := callSweep(t, s); len(again.Started) != 0 {
		t.Fatalf("second sweep started %v", again.Started)
	}
}

// stalledRun stores a run record whose first task was never enqueued (the
// process died between the commit and the enqueue) an hour ago.
func stalledRun(t *testing.T, s *localstack.Stack, redrives int) *run.Run {
	t.Helper()
	ctx := context.Background()
	w := s.Storage.Bucket(localstack.InboxBucket).Object(sampleObject()).NewWriter(ctx)
	w.Write(sample.CSV)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src := run.Source{Bucket: localstack.InboxBucket, Object: sampleObject(), Generation: w.Attrs().Generation}
	r := run.New(run.ID("purchases", src), "purchases", src, "20260426", run.Plan, time.Now().Add(-time.Hour))
	r.Redrives = redrives
	// What Kernel.Start leaves when it dies before enqueueing: the active
	// mark and the record.
	if err := s.App.Runs.MarkActive(ctx, r.ID, r.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Runs.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSweepRedrivesStalledRunOnce(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Configure: shortBudget, LoseEvent: func(string) bool { return true }})
	r := stalledRun(t, s, 0)
	// Two schedulers firing at once: the run is re-driven exactly once.
	var wg sync.WaitGroup
	reps := make([]sweep.Report, 2)
	for i := range reps {
		wg.Add(1)
		go func() { defer wg.Done(); reps[i] = callSweep(t, s) }()
	}
	wg.Wait()
	if n := len(reps[0].Redriven) + len(reps[1].Redriven); n != 1 {
		t.Fatalf("re-driven %d times: %+v", n, reps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	final, err := s.Wait(ctx, r.ID, nil)
	// (The re-drive count returns to 0 once the run makes progress again.)
	if err != nil || final.Status != run.Succeeded || final.Redrives != 0 {
		t.Fatalf("run after re-drive: %+v, %v", final, err)
	}
}

func TestSweepFailsRunThatKeepsStallingAndAnnouncesItOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failed := 0
	s := mustStack(t, localstack.Options{Configure: shortBudget, LoseEvent: func(string) bool { return true },
		OnEvent: func(e events.Event) {
			if e.Type == events.RunFailed {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}})
	r := stalledRun(t, s, sweep.MaxRedrives)
	first := callSweep(t, s)
	second := callSweep(t, s)
	if len(first.Failed) != 1 || len(second.Failed) != 0 {
		t.Fatalf("sweeps failed %v then %v", first.Failed, second.Failed)
	}
	got, err := s.App.Runs.Get(context.Background(), r.ID)
	if err != nil || got.Status != run.Failed || got.Error == nil || got.Error.Step != run.Preprocess {
		t.Fatalf("record %+v, %v", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := failed
		mu.Unlock()
		if n == 1 {
			time.Sleep(200 * time.Millisecond) // and no second one follows
			mu.Lock()
			n = failed
			mu.Unlock()
			if n != 1 {
				t.Fatalf("%d run.failed events", n)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no run.failed event")
}

func TestSweepUndeploysModelLeftByCrashedRun(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"vertex", "automl"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			sweepUndeploys(t, backend)
		})
	}
}

// sweepUndeploys leaves backend's model deployed and held by a run that
// ended, and checks the sweep undeploys it, once.
func sweepUndeploys(t *testing.T, backend string) {
	s := mustStack(t, localstack.Options{
		Specs:     predictSpec(backend, "online"),
		LoseEvent: func(string) bool { return true },
		Configure: func(c *config.Config) { shortBudget(c); c.UndeployGrace = 0 },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// What a run that crashed in online prediction leaves behind: it holds
	// the model, the model is deployed, and the run itself has ended.
	r := stalledRun(t, s, 0)
	if _, err := s.App.Runs.Update(ctx, r.ID, func(r *run.Run) error {
		r.Status = run.Failed
		r.Error = &run.Failure{Step: run.Predict, Message: "instance died", At: time.Now()}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	model := s.Vertex.ModelName(sample.ModelID)
	if backend == "automl" {
		model = s.AutoML.ModelName(sample.ModelID)
	}
	models := holds.NewStore(s.Storage, localstack.StateBucket)
	if _, err := models.Acquire(ctx, backend, model, holds.Holder(r.ID, r.Epoch)); err != nil {
		t.Fatal(err)
	}
	b, err := s.App.Predictor(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	op, err := b.Deploy(ctx, model)
	if err != nil {
		t.Fatal(err)
	}
	for done := false; !done; time.Sleep(20 * time.Millisecond) {
		if done, err = b.PollOperation(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	if deployedModels(s, backend) != 1 {
		t.Fatal("the model did not deploy")
	}
	var undeployed []string
	for deployedModels(s, backend) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("still deployed after sweeping; sweeps undeployed %v", undeployed)
		}
		undeployed = append(undeployed, callSweep(t, s).Undeployed...)
		time.Sleep(50 * time.Millisecond)
	}
	if len(undeployed) != 1 {
		t.Fatalf("sweeps reported %v undeployed, want the model once", undeployed)
	}
}

// The sweep reads only live runs: a run that ended and was announced leaves
// the active index, so the sweep's work does not grow with history.
func TestFinishedRunsLeaveTheActiveIndex(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	r := dropAndWait(t, s, sampleObject(), sample.CSV)
	if r.Status != run.Succeeded {
		t.Fatalf("run %s", r.Status)
	}
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		marks, err := s.App.Runs.Active(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(marks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a finished run is still marked active: %v", marks)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rep := callSweep(t, s); rep.Checked != 0 {
		t.Fatalf("the sweep checked %d runs, want none live", rep.Checked)
	}
	if got, err := s.App.Runs.Get(ctx, r.ID); err != nil || !got.Announced {
		t.Fatalf("record %v, %v", got, err)
	}
}
