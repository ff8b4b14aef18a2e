package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// ErrRunning refuses to rerun a running run without force.
var ErrRunning = errors.New("the run is still running; wait for it to end, or --force")

// produces says which outputs and counters each step writes: a rerun clears
// those of the steps it runs again, so the record never mixes epochs.
var produces = map[string]struct{ outputs, counters []string }{
	Preprocess:  {[]string{"clean", "rejects"}, []string{RowsIn, RowsClean, RowsRejected}},
	Export:      {[]string{"clean"}, []string{RowsIn, RowsClean}},
	Load:        {[]string{"table"}, []string{RowsLoaded}},
	Predict:     {[]string{"prediction_job", "predictions"}, nil},
	Postprocess: {[]string{"results", "results_table"}, []string{RowsPredicted, RowsErrored, RowsResults}},
}

// Rerun records a new epoch of r that starts at step from ("" the first
// step): the code behind `dropcast runs rerun` and `runs backfill`. A new
// epoch writes under runs/ID/eEPOCH/ and replaces the run's rows, so nothing
// of the old epoch needs deleting; the old epoch's tasks and leases are void.
// When the run restarts after preprocess, the clean and rejects files the
// later steps read are copied into the new epoch first (server-side copies,
// through gcs). The new epoch's active mark is written before its record.
// It refuses (ErrRunning) a run that is running unless force, and a run
// whose epoch is no longer r's (another rerun came first). The caller
// enqueues the new epoch's first task (Kernel.Rerun does).
func (s *Store) Rerun(ctx context.Context, gcs *storage.Client, r *Run, from string, force bool, now time.Time) (*Run, error) {
	if r.Status == Running && !force {
		return nil, ErrRunning
	}
	if from == "" {
		from = r.Steps[0].Name
	}
	// Check the plan before copying anything.
	if err := restartable(r, from); err != nil {
		return nil, err
	}
	next := r.Epoch + 1
	moved, err := carryOver(ctx, gcs, r, from, next)
	if err != nil {
		return nil, err
	}
	if err := s.MarkActive(ctx, r.ID, next); err != nil {
		return nil, err
	}
	after, err := s.Update(ctx, r.ID, func(cur *Run) error {
		if ownRestart(cur, r.Epoch+1, from, now) {
			// Our write landed and its answer was lost: the retry found
			// the record we wrote.
			return errOwnWrite
		}
		if cur.Epoch != r.Epoch {
			return fmt.Errorf("epoch %d started meanwhile; not rerunning again", cur.Epoch)
		}
		if cur.Status == Running && !force {
			return ErrRunning
		}
		if err := Restart(cur, from, now); err != nil {
			return err
		}
		for k, v := range moved {
			cur.Outputs[k] = v
		}
		return nil
	})
	if err != nil && after != nil && after.Terminal() && after.Announced {
		// Refused (another rerun came first, and its epoch has ended and
		// been announced since): the mark written above is of no live
		// epoch. Clear it as a late duplicate event's is (Kernel.Start);
		// a mark of a later epoch stays.
		if cerr := s.ClearActive(ctx, r.ID, after.Epoch); cerr != nil {
			return nil, errors.Join(err, cerr)
		}
	}
	if errors.Is(err, errOwnWrite) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return after, nil
}

// errOwnWrite ends an Update that finds the record its own earlier write
// (whose answer was lost) already made.
var errOwnWrite = errors.New("the record is already this rerun's")

// ownRestart reports whether cur is the record Restart(r, from, now) made
// as epoch: the epoch, untouched since (still at from's first segment, with
// the rerun's own time to the nanosecond, which another rerun does not
// share).
func ownRestart(cur *Run, epoch int, from string, now time.Time) bool {
	return cur.Epoch == epoch && cur.Status == Running && cur.Step == from && cur.Segment == 0 && cur.UpdatedAt.Equal(now)
}

// restartable says why r cannot restart at step from, if it cannot: from
// must be one of its steps, and every step before it done.
func restartable(r *Run, from string) error {
	i := slices.IndexFunc(r.Steps, func(s *StepState) bool { return s.Name == from })
	if i < 0 {
		return fmt.Errorf("the run has no step %q", from)
	}
	for _, st := range r.Steps[:i] {
		if st.Status != StepDone {
			return fmt.Errorf("cannot rerun from %s: %s is %s; rerun from %s", from, st.Name, st.Status, st.Name)
		}
	}
	return nil
}

// Restart turns r into a new epoch that starts at step from: the cursor at
// from's first segment, from and every later step pending again with their
// attempts, segments, times, checkpoints and errors cleared (the step table
// tells the current epoch's story; the epoch number says it is a rerun), and
// the outputs and counters those steps produce removed. Earlier steps keep
// their state and outputs, and must be done. Redrives restart from zero.
func Restart(r *Run, from string, now time.Time) error {
	if err := restartable(r, from); err != nil {
		return err
	}
	i := slices.IndexFunc(r.Steps, func(s *StepState) bool { return s.Name == from })
	for j, st := range r.Steps[i:] {
		r.Steps[i+j] = &StepState{Name: st.Name, Status: StepPending}
		for _, o := range produces[st.Name].outputs {
			delete(r.Outputs, o)
		}
		for _, k := range produces[st.Name].counters {
			delete(r.Counters, k)
		}
	}
	r.Epoch++
	r.Status = Running
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
func carryOver(ctx context.Context, gcs *storage.Client, r *Run, from string, next int) (map[string]string, error) {
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
