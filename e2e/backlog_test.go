package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A queue backlog longer than the sweep's grace only delays a run: its task
// waits in the queue, so the sweep neither re-drives it (superseding the
// waiting task) nor, after MaxRedrives sweeps, fails it.
func TestQueueBacklogOnlyDelaysRuns(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{Configure: shortBudget,
		TaskFaults: tasksemu.Faults{Backlog: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id, err := s.Drop(ctx, sampleObject(), sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if ok, err := s.App.Runs.Exists(ctx, id); err != nil || ok {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	grace := sweep.New(s.Apps["sweep"]).Grace
	var redriven, failed []string
	for range sweep.MaxRedrives + 2 {
		time.Sleep(grace + 200*time.Millisecond) // the run looks stalled
		rep := callSweep(t, s)
		redriven = append(redriven, rep.Redriven...)
		failed = append(failed, rep.Failed...)
	}
	if len(redriven)+len(failed) > 0 {
		r, _ := s.App.Runs.Get(ctx, id)
		t.Fatalf("during the backlog the sweeps re-drove %v and failed %v; run %s, %d re-drives", redriven, failed, r.Status, r.Redrives)
	}
	s.Tasks.SetFaults(tasksemu.Faults{}) // the backlog clears
	r, err := s.Wait(ctx, id, nil)
	if err != nil || r.Status != run.Succeeded || r.Redrives != 0 {
		t.Fatalf("run after the backlog: %+v, %v", r, err)
	}
}
