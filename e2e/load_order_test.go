package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dropcast/dropcast/functions/load"
	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// An older upload whose load job is already running when the file is
// uploaded again, and whose job commits after the newer upload's: the table
// and the results still hold the newer upload's rows.
func TestSlowOlderLoadJobNeverOverwritesANewerUpload(t *testing.T) {
	t.Parallel()
	s := mustStack(t, localstack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// Every job inserted from now is slow: the older upload's load job.
	s.BQ.SetFaults(bqemu.Faults{SlowJobs: 6 * time.Second})
	old, err := s.Drop(ctx, sampleObject(), bigSample(40))
	if err != nil {
		t.Fatal(err)
	}
	rOld := awaitLoadJob(ctx, t, s, old)
	s.BQ.SetFaults(bqemu.Faults{}) // the newer upload's jobs are fast
	corrected, err := s.Drop(ctx, sampleObject(), sample.CSV)
	if err != nil {
		t.Fatal(err)
	}
	rNew, err := s.Wait(ctx, corrected, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rOld, err = s.Wait(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	if rNew.Status != run.Succeeded {
		t.Fatalf("newer upload's run: %s %+v", rNew.Status, rNew.Error)
	}
	if rOld.Status != run.Failed {
		t.Errorf("older upload's run: %s, want failed (superseded)", rOld.Status)
	}
	for _, table := range []string{"purchases", "purchase_predictions"} {
		if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales."+table+"`"); n != sampleClean {
			t.Errorf("%s holds %d rows, want the newer upload's %d", table, n, sampleClean)
		}
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM `dropcast-local.sales.purchase_predictions` WHERE run_id = '"+rNew.ID+"'"); n != sampleClean {
		t.Errorf("results table holds %d rows of the newer run, want %d", n, sampleClean)
	}
	if _, rows := results(t, s, rNew); len(rows) != sampleClean {
		t.Errorf("results CSV holds %d rows, want %d", len(rows), sampleClean)
	}
}

// awaitLoadJob waits until the run's load job has been inserted and returns
// the run as it was then.
func awaitLoadJob(ctx context.Context, t *testing.T, s *localstack.Stack, id string) *run.Run {
	t.Helper()
	for {
		r, err := s.App.Runs.Get(ctx, id)
		if err == nil && slices.Contains(loadStepJobs(s), load.JobID(r)) {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s never started its load job", id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
