package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/run"
)

// rerun runs a run again in a new epoch.
func (c *runsCLI) rerun(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("rerun", &conn)
	from := fs.String("from", "", "rerun from `step` (default: the first); the steps before it must be done")
	force := fs.Bool("force", false, "rerun a run that is still running (its current epoch's work is discarded)")
	wait := fs.Bool("wait", false, "follow the run until it ends; exit 1 if it fails")
	interval := fs.Duration("interval", time.Second, "with --wait: how often to poll the record")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usagef(fs, "rerun takes one run ID")
	}
	if *from != "" && !slices.Contains(run.Plan, *from) {
		return c.usagef(fs, "--from %q: want one of %s", *from, strings.Join(run.Plan, ", "))
	}
	a, done, code, ok := c.open(ctx, conn, steer)
	if !ok {
		return code
	}
	defer done()
	r, err := findRun(ctx, a.Runs, pos[0])
	if err != nil {
		return c.errorf("%v", err)
	}
	fl := newFollower(a.Runs, c.stdout)
	fl.only(r.ID)
	if err := fl.start(ctx); err != nil {
		return c.errorf("%v", err)
	}
	after, err := rerunRun(ctx, a, r, *from, *force, c.now)
	if err != nil {
		return c.errorf("rerun %s: %v", r.ID, err)
	}
	fmt.Fprintf(c.stdout, "run %s: epoch %d from %s (was %s in epoch %d)\n", after.ID, after.Epoch, after.Step, r.Status, r.Epoch)
	if !*wait {
		fmt.Fprintf(c.stdout, "follow it with: dropcast runs watch --run %s\n", after.ID)
		return runsOK
	}
	return c.waitFor(ctx, fl, *interval)
}

// errRunning refuses to rerun a running run without --force.
var errRunning = errors.New("the run is still running; wait for it to end, or --force")

// rerunRun starts a new epoch of r from step from ("" the first step) and
// enqueues its task. A new epoch writes under runs/ID/eEPOCH/ and replaces the
// BigQuery partition, so nothing of the old epoch needs deleting; the old
// epoch's tasks and leases are void. When the run restarts after preprocess,
// the clean and rejects files the later steps read are copied into the new
// epoch first (server-side copies).
func rerunRun(ctx context.Context, a *app.App, r *run.Run, from string, force bool, now func() time.Time) (*run.Run, error) {
	if r.Status == run.Running && !force {
		return nil, errRunning
	}
	if from == "" {
		from = r.Steps[0].Name
	}
	// Check the plan before copying anything.
	if err := restart(cloneRun(r), from, now()); err != nil {
		return nil, err
	}
	next := r.Epoch + 1
	moved, err := carryOver(ctx, a.Clients.Storage, r, from, next)
	if err != nil {
		return nil, err
	}
	if err := a.Runs.MarkActive(ctx, r.ID, next); err != nil {
		return nil, err
	}
	after, err := a.Runs.Update(ctx, r.ID, func(cur *run.Run) error {
		if cur.Epoch != r.Epoch {
			return fmt.Errorf("epoch %d started meanwhile; not rerunning again", cur.Epoch)
		}
		if cur.Status == run.Running && !force {
			return errRunning
		}
		if err := restart(cur, from, now()); err != nil {
			return err
		}
		for k, v := range moved {
			cur.Outputs[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := a.Kernel.Redrive(ctx, after); err != nil {
		return after, fmt.Errorf("epoch %d recorded but its first task was not enqueued (the sweeper will re-drive it): %w", after.Epoch, err)
	}
	return after, nil
}

// produces says which outputs and counters each step writes: a rerun clears
// those of the steps it runs again, so the record never mixes epochs.
var produces = map[string]struct{ outputs, counters []string }{
	run.Preprocess:  {[]string{"clean", "rejects"}, []string{run.RowsIn, run.RowsClean, run.RowsRejected}},
	run.Export:      {[]string{"clean"}, []string{run.RowsIn, run.RowsClean}},
	run.Load:        {[]string{"table"}, []string{run.RowsLoaded}},
	run.Predict:     {[]string{"prediction_job", "predictions"}, nil},
	run.Postprocess: {[]string{"results", "results_table"}, []string{run.RowsPredicted, run.RowsErrored, run.RowsResults}},
}

// restart turns r into a new epoch that starts at step from: the cursor at
// from's first segment, from and every later step pending again with their
// attempts, segments, times, checkpoints and errors cleared (the step table
// tells the current epoch's story; the epoch number says it is a rerun), and
// the outputs and counters those steps produce removed. Earlier steps keep
// their state and outputs, and must be done. Redrives restart from zero.
func restart(r *run.Run, from string, now time.Time) error {
	i := slices.IndexFunc(r.Steps, func(s *run.StepState) bool { return s.Name == from })
	if i < 0 {
		return fmt.Errorf("the run has no step %q", from)
	}
	for _, st := range r.Steps[:i] {
		if st.Status != run.StepDone {
			return fmt.Errorf("cannot rerun from %s: %s is %s; rerun from %s", from, st.Name, st.Status, st.Name)
		}
	}
	for j, st := range r.Steps[i:] {
		r.Steps[i+j] = &run.StepState{Name: st.Name, Status: run.StepPending}
		for _, o := range produces[st.Name].outputs {
			delete(r.Outputs, o)
		}
		for _, k := range produces[st.Name].counters {
			delete(r.Counters, k)
		}
	}
	r.Epoch++
	r.Status = run.Running
	r.Step, r.Segment = from, 0
	r.NotBefore = time.Time{}
	r.Redrives = 0
	r.Announced = false
	r.Error = nil
	r.FinishedAt = time.Time{}
	r.UpdatedAt = now
	return nil
}

// carryOver copies the work files that kept steps produced and later steps
// read from their own epoch's prefix — clean/ (and rejects/, to keep the
// record whole), written by preprocess or a scheduled run's export — into
// epoch next, and returns their new locations.
func carryOver(ctx context.Context, gcs *storage.Client, r *run.Run, from string, next int) (map[string]string, error) {
	kept := map[string]bool{}
	for _, st := range r.Steps {
		if st.Name == from {
			break
		}
		for _, o := range produces[st.Name].outputs {
			kept[o] = true
		}
	}
	moved := map[string]string{}
	for _, name := range []string{"clean", "rejects"} {
		src, ok := r.Outputs[name]
		if !ok || !kept[name] {
			continue
		}
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(src, "gs://"), "/")
		dst := fmt.Sprintf("runs/%s/e%d/%s/", r.ID, next, name)
		if err := copyPrefix(ctx, gcs.Bucket(bucket), prefix, dst); err != nil {
			return nil, fmt.Errorf("carry %s over to epoch %d: %w", name, next, err)
		}
		moved[name] = "gs://" + bucket + "/" + dst
	}
	return moved, nil
}

// copyPrefix copies every object under prefix to the same name under dst.
func copyPrefix(ctx context.Context, b *storage.BucketHandle, prefix, dst string) error {
	it := b.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		to := dst + strings.TrimPrefix(o.Name, prefix)
		if _, err := b.Object(to).CopierFrom(b.Object(o.Name)).Run(ctx); err != nil {
			return fmt.Errorf("copy %s to %s: %w", o.Name, to, err)
		}
	}
}

// cloneRun deep-copies the parts of r that restart changes.
func cloneRun(r *run.Run) *run.Run {
	c := *r
	c.Steps = make([]*run.StepState, len(r.Steps))
	for i, st := range r.Steps {
		s := *st
		c.Steps[i] = &s
	}
	c.Outputs = make(map[string]string, len(r.Outputs))
	for k, v := range r.Outputs {
		c.Outputs[k] = v
	}
	c.Counters = make(map[string]int64, len(r.Counters))
	for k, v := range r.Counters {
		c.Counters[k] = v
	}
	return &c
}
