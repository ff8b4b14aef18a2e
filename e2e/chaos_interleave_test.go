package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/dropcast/dropcast/functions/ingest"
	"github.com/dropcast/dropcast/functions/sweep"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// The chaos scenario's interventions: what an operator or a late process
// does to a run while it is under way — reruns and backfills racing an epoch
// in flight, an announcement made from a record read before a rerun, specs
// renamed or added between sweeps. Each drives the production code the
// command line and the functions run (Kernel.Rerun, ingest.Backfill,
// Kernel.AnnounceMissing, sweep.Sweeper), never a copy of it.

// eventLog keeps the run events the events topic carried (Options.OnEvent).
type eventLog struct {
	mu     sync.Mutex
	events []events.Event
}

func (l *eventLog) add(e events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// outcomes are run id's outcome events (run.succeeded, run.failed), in the
// order they arrived.
func (l *eventLog) outcomes(id string) []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []events.Event
	for _, e := range l.events {
		if e.RunID == id && (e.Type == events.RunSucceeded || e.Type == events.RunFailed) {
			out = append(out, e)
		}
	}
	return out
}

// outcomeType is the outcome event a run that ended as r did is announced by.
func outcomeType(r *run.Run) string {
	if r.Status == run.Failed {
		return events.RunFailed
	}
	return events.RunSucceeded
}

// checkAnnouncedForLastEpoch states the invariant "every run ends announced
// exactly for its last epoch", from the README's guarantees (a run is marked
// announced only once its event was accepted; every finished run is
// announced at least once; notify absorbs duplicates), with final the run's
// record once every delivery is done:
//   - the record is ended and marked announced, and the events topic carried
//     the outcome of its last epoch, with the record's status;
//   - no outcome names a later epoch, or the last epoch with another status;
//   - an earlier epoch has at most one kind of outcome: an epoch ends once.
//
// Duplicates of one epoch's outcome are allowed (at-least-once).
func checkAnnouncedForLastEpoch(log *eventLog, final *run.Run) error {
	if !final.Terminal() || !final.Announced {
		return fmt.Errorf("run %s epoch %d: %s, announced %v", final.ID, final.Epoch, final.Status, final.Announced)
	}
	want := outcomeType(final)
	kinds := map[int]map[string]bool{}
	for _, e := range log.outcomes(final.ID) {
		if kinds[e.Epoch] == nil {
			kinds[e.Epoch] = map[string]bool{}
		}
		kinds[e.Epoch][e.Type] = true
		if e.Epoch > final.Epoch {
			return fmt.Errorf("run %s: %s announced for epoch %d, after its last epoch %d", final.ID, e.Type, e.Epoch, final.Epoch)
		}
	}
	for epoch, k := range kinds {
		if len(k) > 1 {
			return fmt.Errorf("run %s epoch %d announced both %v", final.ID, epoch, k)
		}
	}
	if !kinds[final.Epoch][want] {
		return fmt.Errorf("run %s: no %s event for its last epoch %d (outcomes by epoch: %v)", final.ID, want, final.Epoch, kinds)
	}
	return nil
}

// interventions runs a scenario's reruns, backfill and late announcement,
// in order, on the runs in ids (the last is the newest upload's). It returns
// what it did (for the log) and the problems it saw, which the scenario
// reports; an error a real operator could meet (a rerun refused because
// another came first, say) is only noted.
func interventions(ctx context.Context, s *localstack.Stack, ch localstack.Chaos, object string, ids []string) (notes, problems []string) {
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, fmt.Sprintf(format, args...))
	}
	target := ids[len(ids)-1]
	if ch.RerunOlder && len(ids) > 1 {
		target = ids[0]
	}
	if ch.Reruns > 0 && awaitStep(ctx, s, target, ch.RerunAt) && sleepCtx(ctx, ch.RerunAfter) {
		for i := range ch.Reruns {
			if i > 0 && !sleepCtx(ctx, ch.RerunGap) {
				break
			}
			var wg sync.WaitGroup
			if i == 0 && ch.Backfill {
				wg.Go(func() {
					action, err := backfillOnce(ctx, s, object)
					note("backfill: %s %v", action, err)
				})
			}
			after, err := rerunOnce(ctx, s, target, ch.RerunFromLoad, true)
			switch {
			case after == nil:
				note("rerun of %s refused: %v", target, err)
			default:
				note("rerun of %s: epoch %d from %s (%v)", target, after.Epoch, after.Step, err)
			}
			wg.Wait()
		}
	}
	if ch.LateAnnouncement {
		n, p := lateAnnouncement(ctx, s, ids[len(ids)-1])
		note("late announcement: %s", n)
		if p != "" {
			problems = append(problems, p)
		}
	}
	return notes, problems
}

// awaitStep waits until run id's current epoch reaches step, or ends; false
// when ctx ends first.
func awaitStep(ctx context.Context, s *localstack.Stack, id, step string) bool {
	for {
		if r, err := s.App.Runs.Get(ctx, id); err == nil && (r.Terminal() || slices.Index(run.Plan, r.Step) >= slices.Index(run.Plan, step)) {
			return true
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return false
		}
	}
}

// rerunOnce reruns run id as `dropcast runs rerun [--force] [--from load]`
// does. A refusal (another rerun came first, preprocess not done for
// --from load) is an operator's everyday answer, not a failure.
func rerunOnce(ctx context.Context, s *localstack.Stack, id string, fromLoad, force bool) (*run.Run, error) {
	r, err := s.App.Runs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	from := ""
	if st := r.StepState(run.Preprocess); fromLoad && st != nil && st.Status == run.StepDone {
		from = run.Load
	}
	return s.App.Kernel.Rerun(ctx, s.App.Clients.Storage, r, from, force)
}

// backfillOnce backfills the file as `dropcast runs backfill --force` does
// for it: the run of the object's current generation.
func backfillOnce(ctx context.Context, s *localstack.Stack, object string) (string, error) {
	a, err := s.Storage.Bucket(localstack.InboxBucket).Object(object).Attrs(ctx)
	if err != nil {
		return "", err
	}
	id, err := s.RunID(ctx, object, a.Generation)
	if err != nil {
		return "", err
	}
	obj := gcsevent.Object{Bucket: localstack.InboxBucket, Name: object, Generation: a.Generation, Size: a.Size}
	action, _, err := ingest.Backfill(ctx, s.App, obj, id, true, false)
	return action, err
}

// lateAnnouncement makes every publication of run events fail until run
// id has ended, unannounced, and a rerun has recorded its next epoch; then
// publications succeed again and the record read at the end is announced,
// as a sweep that read it before the rerun would. The new epoch must keep
// its active mark and stay unannounced. It returns what happened, and a
// problem or "".
func lateAnnouncement(ctx context.Context, s *localstack.Stack, id string) (note, problem string) {
	s.PubSub.FailPublishes(localstack.EventsTopic, 1<<30, codes.NotFound)
	defer s.PubSub.FailPublishes(localstack.EventsTopic, 0, codes.OK)
	var stale *run.Run
	for stale == nil {
		if r, err := s.App.Runs.Get(ctx, id); err == nil && r.Terminal() {
			stale = r
		} else if !sleepCtx(ctx, 10*time.Millisecond) {
			return "the run never ended", ""
		}
	}
	// An error with a record: the epoch is recorded, its first task not
	// enqueued (the sweep re-drives it).
	after, err := s.App.Kernel.Rerun(ctx, s.App.Clients.Storage, stale, "", false)
	s.PubSub.FailPublishes(localstack.EventsTopic, 0, codes.OK)
	if after == nil {
		return fmt.Sprintf("rerun refused: %v", err), ""
	}
	announced, err := s.Apps["sweep"].Kernel.AnnounceMissing(ctx, stale)
	if err != nil {
		return "not announced now: " + err.Error(), "" // the redelivery or the next sweep will
	}
	note = fmt.Sprintf("epoch %d read unannounced %v, announced late %v, during epoch %d", stale.Epoch, !stale.Announced, announced, after.Epoch)
	cur, err := s.App.Runs.Get(ctx, id)
	if err != nil || cur.Epoch != after.Epoch || cur.Terminal() {
		return note + " (which had ended by then)", "" // its own announcement owns the mark
	}
	if cur.Announced {
		return note, fmt.Sprintf("the late announcement of epoch %d marked epoch %d announced", stale.Epoch, cur.Epoch)
	}
	marks, err := s.App.Runs.Active(ctx)
	if err != nil {
		return note, ""
	}
	if !slices.ContainsFunc(marks, func(m run.Marker) bool { return m.ID == id && m.Epoch >= cur.Epoch }) {
		return note, fmt.Sprintf("the late announcement of epoch %d removed running epoch %d's active mark", stale.Epoch, cur.Epoch)
	}
	return note, ""
}

// specChange edits the specs in the state bucket: the pipeline renamed, or a
// spec added that takes the same files and sorts first.
func specChange(ctx context.Context, s *localstack.Stack, change string) error {
	specs := s.Storage.Bucket(localstack.StateBucket)
	put := func(name string, b []byte) error {
		w := specs.Object("specs/" + name).NewWriter(ctx)
		if _, err := w.Write(b); err != nil {
			w.Close()
			return fmt.Errorf("write spec %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("write spec %s: %w", name, err)
		}
		return nil
	}
	switch change {
	case localstack.SpecRename:
		renamed := bytes.Replace(sample.Spec, []byte("name: purchases"), []byte("name: sales"), 1)
		if err := put("sales.yaml", renamed); err != nil {
			return err
		}
		if err := specs.Object("specs/" + sample.SpecName).Delete(ctx); err != nil {
			return fmt.Errorf("delete spec %s: %w", sample.SpecName, err)
		}
	case localstack.SpecAdd:
		added := bytes.Replace(sample.Spec, []byte("name: purchases"), []byte("name: aaa"), 1)
		added = bytes.Replace(added, []byte(`\.csv(\.gz)?$'`), []byte(`\.csv$'`), 1) // a pattern of its own
		return put("aaa.yaml", added)
	default:
		return fmt.Errorf("unknown spec change %q", change)
	}
	return nil
}

// warmSpecs has every function's instance read the specs, as instances
// serving traffic have: a spec change reaches them when their cache expires,
// and the scenario's sweeps, each on a new instance, see it at once.
func warmSpecs(ctx context.Context, s *localstack.Stack) error {
	for _, fn := range localstack.Functions {
		if _, err := s.Apps[fn].Specs.Set(ctx); err != nil {
			return fmt.Errorf("%s reads the specs: %w", fn, err)
		}
	}
	return nil
}

// sweepOnNewInstance sweeps once on a new instance of the sweep function.
func sweepOnNewInstance(ctx context.Context, s *localstack.Stack) (sweep.Report, error) {
	a, err := s.NewInstance(ctx, "sweep")
	if err != nil {
		return sweep.Report{}, err
	}
	defer a.Close()
	return sweep.New(a).Sweep(ctx)
}

// unexpectedRuns lists the run records other than ids: a file that got a
// second run (under another pipeline, say).
func unexpectedRuns(ctx context.Context, s *localstack.Stack, ids []string) ([]string, error) {
	runs, err := s.App.Runs.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, r := range runs {
		if !slices.Contains(ids, r.ID) {
			extra = append(extra, r.ID+" ("+string(r.Status)+")")
		}
	}
	return extra, nil
}

// sleepCtx sleeps for d, or less if ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// awaitAnnouncedForLastEpoch waits up to within for the events topic's
// subscriber to hold what checkAnnouncedForLastEpoch wants, and returns its
// last complaint otherwise.
func awaitAnnouncedForLastEpoch(log *eventLog, final *run.Run, within time.Duration) error {
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		err := checkAnnouncedForLastEpoch(log, final)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// checkTablesHoldLastEpoch checks that the destination table's partition
// holds exactly the rows of r's clean parts (wantRows, by _row) and that
// every row of the results table is r's, written in its last epoch: run_id
// is r's and predicted_at its last epoch's predict end.
func checkTablesHoldLastEpoch(t *testing.T, s *localstack.Stack, r *run.Run, wantRows []string) error {
	t.Helper()
	it, err := s.App.Clients.BigQuery.Query("SELECT _row FROM `dropcast-local.sales.purchases` WHERE _PARTITIONTIME = TIMESTAMP('2026-04-26')").Read(context.Background())
	if err != nil {
		return fmt.Errorf("read the destination: %w", err)
	}
	var got []string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the destination: %w", err)
		}
		got = append(got, fmt.Sprint(row[0]))
	}
	slices.SortFunc(got, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return x - y
	})
	if !slices.Equal(got, wantRows) {
		return fmt.Errorf("the destination's partition holds %d rows, not exactly the newest upload's %d", len(got), len(wantRows))
	}
	predicted := r.StepState(run.Predict).FinishedAt.Truncate(time.Microsecond)
	_, rows := resultsTableRows(t, s)
	if len(rows) != len(wantRows) {
		return fmt.Errorf("the results table holds %d rows, want %d", len(rows), len(wantRows))
	}
	for _, row := range rows {
		at, _ := row["predicted_at"].(time.Time)
		if row["run_id"] != r.ID || !at.Equal(predicted) {
			return fmt.Errorf("the results table holds a row of run %v predicted at %v, not of run %s's last epoch %d (predicted at %v)", row["run_id"], at, r.ID, r.Epoch, predicted)
		}
	}
	return nil
}

// specChangeSweeps changes the specs and sweeps, as Cloud Scheduler would,
// every grace, each time on a new instance of the sweep function.
type specChangeSweeps struct {
	cancel   context.CancelFunc
	done     chan struct{}
	problems []string
}

func startSpecChangeSweeps(ctx context.Context, s *localstack.Stack, ch localstack.Chaos) *specChangeSweeps {
	ctx, cancel := context.WithCancel(ctx)
	c := &specChangeSweeps{cancel: cancel, done: make(chan struct{})}
	if ch.SpecChange == "" {
		close(c.done)
		return c
	}
	grace := sweep.New(s.Apps["sweep"]).Grace
	go func() {
		defer close(c.done)
		if !sleepCtx(ctx, ch.SpecChangeAfter) {
			return
		}
		if err := specChange(ctx, s, ch.SpecChange); err != nil {
			if ctx.Err() == nil { // not the scenario ending first
				c.problems = append(c.problems, err.Error())
			}
			return
		}
		for sleepCtx(ctx, grace) {
			rep, err := sweepOnNewInstance(ctx, s)
			if err != nil {
				continue // a storage fault: the next sweep comes
			}
			if len(rep.Started) > 0 {
				c.problems = append(c.problems, fmt.Sprintf("a sweep after the spec change (%s) started runs %v", ch.SpecChange, rep.Started))
			}
		}
	}()
	return c
}

// stop ends the sweeps and returns what went wrong.
func (c *specChangeSweeps) stop() []string {
	c.cancel()
	<-c.done
	return c.problems
}
