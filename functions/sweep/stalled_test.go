package sweep_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

func startStack(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	opts.Latency = 20 * time.Millisecond
	opts.Configure = func(c *config.Config) {
		c.StepTimeout, c.DispatchDeadline, c.SafetyMargin = 2*time.Second, 15*time.Second, time.Second
	}
	s, err := localstack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// putInbox writes an inbox object and returns its source.
func putInbox(t *testing.T, s *localstack.Stack, name string) run.Source {
	t.Helper()
	w := s.Storage.Bucket(localstack.InboxBucket).Object(name).NewWriter(context.Background())
	w.Write(sample.CSV)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return run.Source{Bucket: localstack.InboxBucket, Object: name, Generation: w.Attrs().Generation}
}

// lostRun records a run of inbox object name, marked active, whose first
// task was never enqueued (Start died in between).
func lostRun(t *testing.T, s *localstack.Stack, name string) *run.Run {
	t.Helper()
	ctx := t.Context()
	src := putInbox(t, s, name)
	r := run.New(run.ID("purchases", src), "purchases", src, "20260427", run.Plan, time.Now())
	if err := s.App.Runs.MarkActive(ctx, r.ID, r.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Runs.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// A run whose task waits in the queue is not stalled, however long it
// waits; a run whose task is not in the queue is.
func TestSweepLeavesRunsWaitingInTheQueue(t *testing.T) {
	const noTask = "incoming/20260427-120000.csv"
	s := startStack(t, localstack.Options{TaskFaults: tasksemu.Faults{Backlog: time.Hour},
		LoseEvent: func(o string) bool { return o == noTask }})
	ctx := t.Context()
	waiting, err := s.Drop(ctx, "incoming/20260426-120000.csv", sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	lost := lostRun(t, s, noTask)
	sw := sweep.New(s.Apps["sweep"])
	sw.Grace = 50 * time.Millisecond
	var redriven []string
	for range sweep.MaxRedrives + 1 {
		time.Sleep(2 * sw.Grace)
		rep, err := sw.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(rep.Failed, waiting) {
			t.Fatalf("the sweep failed the waiting run: %+v", rep)
		}
		redriven = append(redriven, rep.Redriven...)
	}
	if slices.Contains(redriven, waiting) || !slices.Contains(redriven, lost.ID) {
		t.Fatalf("re-driven %v; want %s (no task) and not %s (task waiting)", redriven, lost.ID, waiting)
	}
}

// A file with a run under any pipeline, the current one or not, is not lost.
func TestSweepFindsRunsUnderAnyPipeline(t *testing.T) {
	s := startStack(t, localstack.Options{LoseEvent: func(string) bool { return true }})
	ctx := t.Context()
	old := putInbox(t, s, "incoming/20260426-120000.csv")
	r := run.New(run.ID("retired", old), "retired", old, "20260426", run.Plan, time.Now())
	r.Status, r.Announced = run.Succeeded, true
	if err := s.App.Runs.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	fresh := putInbox(t, s, "incoming/20260427-120000.csv")
	rep, err := sweep.New(s.Apps["sweep"]).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{run.ID("purchases", fresh)}
	if !slices.Equal(rep.Started, want) {
		t.Fatalf("started %v, want %v only (%s has a run under pipeline retired)", rep.Started, want, old.Object)
	}
}

// A step budget far below what one sweep takes (dropcast local --budget
// 2ms, the chaos scenarios' tiny budgets) must not stop the sweep before it
// reaches a single run: a run whose first task was never enqueued is
// re-driven all the same.
func TestSweepWithATinyStepBudgetStillRedrives(t *testing.T) {
	const noTask = "incoming/20260427-120000.csv"
	s, err := localstack.Start(context.Background(), localstack.Options{
		Latency:   20 * time.Millisecond,
		LoseEvent: func(o string) bool { return o == noTask },
		Configure: func(c *config.Config) {
			c.StepTimeout, c.DispatchDeadline, c.SafetyMargin = 502*time.Millisecond, 15*time.Second, 500*time.Millisecond
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx := t.Context()
	lost := lostRun(t, s, noTask)
	sw := sweep.New(s.Apps["sweep"])
	time.Sleep(2 * sw.Grace)
	rep, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Redriven, lost.ID) {
		t.Fatalf("sweep with a %v step budget: %+v; want %s re-driven", s.Apps["sweep"].Config.Budget(), rep, lost.ID)
	}
}
