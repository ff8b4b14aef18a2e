package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// marked reports whether run id has an active mark.
func (f *fixture) marked(t *testing.T) bool {
	t.Helper()
	ms, err := f.store.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(ms, func(m run.Marker) bool { return m.ID == f.run.ID })
}

// finishUnannounced runs every step of epoch 1 and crashes right after the
// last commit: the run has ended, its outcome is not announced.
func (f *fixture) finishUnannounced(t *testing.T) *run.Run {
	t.Helper()
	for _, step := range run.Plan[:3] {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	f.k.faults = &crashOnce{seen: map[string]bool{CrashBeforeSave: true, CrashBeforeCommit: true}}
	if w := f.deliver(done(run.Postprocess), f.task(run.Postprocess, 0), 0); w.Code != 500 {
		t.Fatalf("crashed delivery answered %d", w.Code)
	}
	f.k.faults = nil
	r := f.get(t)
	if r.Status != run.Succeeded || r.Announced {
		t.Fatalf("status %s announced %v", r.Status, r.Announced)
	}
	return r
}

// rerun writes what `dropcast runs rerun` writes, in its order
// (cmd/dropcast/runs_rerun.go): the active mark of the new epoch, then the
// record restarted at the first step in that epoch.
func (f *fixture) rerunMark(t *testing.T, epoch int) {
	t.Helper()
	if err := f.store.MarkActive(context.Background(), f.run.ID, epoch); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) rerunRecord(t *testing.T, epoch int) {
	t.Helper()
	_, err := f.store.Update(context.Background(), f.run.ID, func(r *run.Run) error {
		for i, st := range r.Steps {
			r.Steps[i] = &run.StepState{Name: st.Name, Status: run.StepPending}
		}
		r.Epoch = epoch
		r.Status, r.Step, r.Segment = run.Running, r.Steps[0].Name, 0
		r.Announced, r.Error, r.FinishedAt = false, nil, time.Time{}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Item 3 of issue 14: a publication the server did not accept leaves the
// run unannounced and marked active; the redelivery announces it.
func TestFailedPublishIsNotRecordedAsAnnounced(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)
	// The topic does not exist yet: every publication fails.
	pub := events.NewPubSub(ps.Client(), "events", slog.New(slog.DiscardHandler))
	pub.Timeout = 2 * time.Second
	t.Cleanup(pub.Stop)
	f := newFixture(t)
	f.k.events = pub
	for _, step := range run.Plan[:3] {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	w := f.deliver(done(run.Postprocess), f.task(run.Postprocess, 0), 0)
	r := f.get(t)
	if r.Status != run.Succeeded {
		t.Fatalf("status %s", r.Status)
	}
	if r.Announced || !f.marked(t) {
		t.Fatalf("publication failed, yet announced=%v, active mark present=%v", r.Announced, f.marked(t))
	}
	if w.Code < 500 {
		t.Fatalf("an unannounced end answered %d: Cloud Tasks would not redeliver it", w.Code)
	}

	// Pub/Sub is back: the redelivery announces the run.
	if err := ps.CreateTopic(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := ps.CreateSubscription(ctx, "events", "sub", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if w := f.deliver(done(run.Postprocess), f.task(run.Postprocess, 0), 1); w.Code != 200 {
		t.Fatalf("redelivery answered %d: %s", w.Code, w.Body)
	}
	if r := f.get(t); !r.Announced || f.marked(t) {
		t.Fatalf("after the redelivery: announced=%v, active mark present=%v", r.Announced, f.marked(t))
	}
	if got := receive(t, ctx, ps, "sub"); !slices.Contains(got, events.RunSucceeded) {
		t.Fatalf("received %v, want a %s", got, events.RunSucceeded)
	}
}

// receive returns the types of the events on sub, waiting briefly for them.
func receive(t *testing.T, ctx context.Context, ps *pubsubemu.Server, sub string) []string {
	t.Helper()
	var mu sync.Mutex
	var types []string
	rctx, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	ps.Client().Subscriber(sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		var e events.Event
		if json.Unmarshal(m.Data, &e) == nil {
			mu.Lock()
			types = append(types, e.Type)
			mu.Unlock()
		}
	})
	mu.Lock()
	defer mu.Unlock()
	return types
}

// Item 5 of issue 14: the sweep announces a run from a record it read before
// the run was rerun; the announcement of the ended epoch must not remove the
// new epoch's active mark.
func TestLateAnnouncementKeepsTheNewEpochsMark(t *testing.T) {
	f := newFixture(t)
	stale := f.finishUnannounced(t) // what the sweep read
	f.rerunMark(t, 2)
	f.rerunRecord(t, 2)
	f.k.AnnounceMissing(context.Background(), stale)
	if !f.marked(t) {
		t.Fatal("the late announcement of epoch 1 removed epoch 2's active mark")
	}
	// Epoch 2 ends: its own announcement removes the mark.
	for _, step := range run.Plan {
		tk := taskq.Task{RunID: f.run.ID, Epoch: 2, Step: step}
		if w := f.deliver(done(step), tk, 0); w.Code != 200 {
			t.Fatalf("epoch 2 %s: %d %s", step, w.Code, w.Body)
		}
	}
	if r := f.get(t); r.Status != run.Succeeded || !r.Announced || f.marked(t) {
		t.Fatalf("epoch 2 ended: status %s announced %v marked %v", r.Status, r.Announced, f.marked(t))
	}
}

// Item 5: a stale task of the ended epoch, delivered while the rerun is
// between its two writes, announces the old epoch but keeps the new mark.
func TestStaleTaskDuringRerunKeepsTheNewEpochsMark(t *testing.T) {
	f := newFixture(t)
	f.finishUnannounced(t)
	f.rerunMark(t, 2)
	if w := f.deliver(done(run.Postprocess), f.task(run.Postprocess, 0), 1); w.Code != 200 {
		t.Fatalf("redelivery answered %d", w.Code)
	}
	f.rerunRecord(t, 2)
	if !f.marked(t) {
		t.Fatal("the redelivery of epoch 1 removed epoch 2's active mark")
	}
}

// Item 5: a late duplicate of the storage event finds the run ended and
// announced, while a rerun has marked its new epoch but not yet written it.
func TestLateDuplicateEventDuringRerunKeepsTheNewEpochsMark(t *testing.T) {
	f := newFixture(t)
	for _, step := range run.Plan {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	if r := f.get(t); !r.Announced || f.marked(t) {
		t.Fatalf("run not ended cleanly: announced %v marked %v", r.Announced, f.marked(t))
	}
	f.rerunMark(t, 2)
	dup := *f.run
	if created, err := f.k.Start(context.Background(), &dup); err != nil || created {
		t.Fatalf("duplicate Start = %v, %v", created, err)
	}
	f.rerunRecord(t, 2)
	if !f.marked(t) {
		t.Fatal("the duplicate event removed epoch 2's active mark")
	}
}

// cleaner is a step that fails the run and whose cleanup needs the spec
// (predict's Finalize releases the model the spec names).
type cleaner struct {
	name     string
	mu       sync.Mutex
	released []string
}

func (c *cleaner) Name() string { return c.name }
func (c *cleaner) Run(context.Context, *Exec) (Outcome, error) {
	return Failed(errors.New("prediction job failed")), nil
}
func (c *cleaner) Finalize(_ context.Context, x *Exec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if x.Pipeline == nil {
		return errors.New("no spec: cannot tell which model to release")
	}
	c.released = append(c.released, x.Pipeline.Name)
	return nil
}

func (c *cleaner) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.released)
}

// Item 8 of issue 14: a run that failed in a step and whose delivery died
// before the cleanup is cleaned up by the redelivery, with its spec.
func TestRedeliveryOfAFailedRunRunsTheCleanup(t *testing.T) {
	f := newFixture(t)
	for _, step := range run.Plan[:2] {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	c := &cleaner{name: run.Predict}
	f.k.faults = &crashOnce{seen: map[string]bool{CrashBeforeSave: true, CrashBeforeCommit: true}}
	if w := f.deliver(c, f.task(run.Predict, 0), 0); w.Code != 500 {
		t.Fatalf("crashed delivery answered %d", w.Code)
	}
	if r := f.get(t); r.Status != run.Failed || r.Announced || c.count() != 0 {
		t.Fatalf("after the crash: status %s announced %v cleanups %d", r.Status, r.Announced, c.count())
	}
	if w := f.deliver(c, f.task(run.Predict, 0), 1); w.Code != 200 {
		t.Fatalf("redelivery answered %d", w.Code)
	}
	if c.count() != 1 {
		t.Fatalf("the redelivery ran %d cleanups with the spec, want 1", c.count())
	}
}

// flakySpecs fails its first n lookups, as a spec read that meets a 503.
type flakySpecs struct {
	mu sync.Mutex
	n  int
	p  *spec.Pipeline
}

func (s *flakySpecs) Pipeline(context.Context, string) (*spec.Pipeline, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		s.n--
		return nil, errors.New("read spec: 503 backend unavailable")
	}
	return s.p, nil
}

// Item 8: the spec cannot be read on the queue's last attempt; the run fails
// and the step's cleanup still runs, with the spec.
func TestSpecUnreadableOnTheLastAttemptRunsTheCleanup(t *testing.T) {
	f := newFixture(t)
	for _, step := range run.Plan[:2] {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	f.k.specs = &flakySpecs{n: 1, p: f.k.specs.(specs).p}
	c := &cleaner{name: run.Predict}
	if w := f.deliver(c, f.task(run.Predict, 0), f.k.cfg.MaxAttempts-1); w.Code != 200 {
		t.Fatalf("last attempt answered %d", w.Code)
	}
	if r := f.get(t); r.Status != run.Failed {
		t.Fatalf("status %s", r.Status)
	}
	if c.count() != 1 {
		t.Fatalf("%d cleanups with the spec, want 1", c.count())
	}
}
