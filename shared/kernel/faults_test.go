package kernel

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/taskq"
)

// crashOnce crashes the first time each point is reached.
type crashOnce struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *crashOnce) Crash(point string, _ taskq.Task) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[point] {
		return false
	}
	c.seen[point] = true
	return true
}

func TestCrashesLoseNothing(t *testing.T) {
	for _, point := range []string{CrashBeforeSave, CrashBeforeCommit, CrashAfterCommit} {
		t.Run(point, func(t *testing.T) {
			f := newFixture(t)
			f.k.faults = &crashOnce{seen: map[string]bool{CrashBeforeSave: point != CrashBeforeSave, CrashBeforeCommit: point != CrashBeforeCommit, CrashAfterCommit: point != CrashAfterCommit}}
			written := 0 // the step's side effect, idempotent by name in real steps
			s := stepFunc{run.Preprocess, func(ctx context.Context, x *Exec) (Outcome, error) {
				written++
				if err := x.Save(ctx, map[string]int{"parts": 1}); err != nil {
					return Outcome{}, err
				}
				return Done(), nil
			}}
			if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 500 {
				t.Fatalf("crashed delivery answered %d", w.Code)
			}
			r := f.get(t)
			if point != CrashAfterCommit {
				if st := r.StepState(run.Preprocess); st.Lease == nil || st.Status != run.StepRunning {
					t.Fatalf("a crash released the lease or committed: %+v", st)
				}
				// Cloud Tasks redelivers; the lease blocks it until it expires.
				if w := f.deliver(s, f.task(run.Preprocess, 0), 1); w.Code != 503 {
					t.Fatalf("redelivery under the dead lease answered %d", w.Code)
				}
				f.clock.add(budget + time.Minute)
			}
			if w := f.deliver(s, f.task(run.Preprocess, 0), 2); w.Code != 200 {
				t.Fatalf("recovery answered %d: %s", w.Code, w.Body)
			}
			r = f.get(t)
			if r.Step != run.Load || r.StepState(run.Preprocess).Status != run.StepDone {
				t.Fatalf("not recovered: step %s %+v", r.Step, r.StepState(run.Preprocess))
			}
			if got := f.q.names(); got[len(got)-1] != f.task(run.Load, 0).Name() {
				t.Fatalf("next task not enqueued: %v", got)
			}
		})
	}
}

// A commit whose write lands but whose answer is lost is recognised as this
// invocation's own: the next task is enqueued and the run moves on.
func TestCommitWithLostAnswerIsFinished(t *testing.T) {
	gcs, proxy := gcsemutest.StartBehindProxy(t, faultproxy.Faults{}, "state")
	f := newFixture(t)
	f.store = run.NewStore(gcs, "state")
	f.k.store = f.store
	if _, err := f.k.Start(context.Background(), f.run); err != nil {
		t.Fatal(err)
	}
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		proxy.LoseNextWrites(1) // the commit's write: done, but its answer lost
		return Done(), nil
	}}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 200 {
		t.Fatalf("delivery answered %d: %s", w.Code, w.Body)
	}
	if got := f.q.names(); got[len(got)-1] != f.task(run.Load, 0).Name() {
		t.Fatalf("next task not enqueued: %v", got)
	}
	if st := proxy.Stats(); st.LostResponses != 1 {
		t.Fatalf("%d answers lost, want 1", st.LostResponses)
	}
}

// recorder keeps published events.
type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) Publish(_ context.Context, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A process that dies right after committing a run's end publishes nothing;
// the redelivery of its task announces the run, once.
func TestLostAnnouncementIsMadeByTheRedelivery(t *testing.T) {
	f := newFixture(t)
	rec := &recorder{}
	f.k.events = rec
	for _, step := range run.Plan[:3] {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d", step, w.Code)
		}
	}
	f.k.faults = &crashOnce{seen: map[string]bool{CrashBeforeSave: true, CrashBeforeCommit: true}}
	last := done(run.Postprocess)
	if w := f.deliver(last, f.task(run.Postprocess, 0), 0); w.Code != 500 {
		t.Fatalf("crashed delivery answered %d", w.Code)
	}
	if r := f.get(t); r.Status != run.Succeeded || r.Announced || rec.count(events.RunSucceeded) != 0 {
		t.Fatalf("after the crash: status %s announced %v, %d events", r.Status, r.Announced, rec.count(events.RunSucceeded))
	}
	for retry := 1; retry <= 2; retry++ { // the redelivery, and a duplicate of it
		if w := f.deliver(last, f.task(run.Postprocess, 0), retry); w.Code != 200 {
			t.Fatalf("redelivery answered %d", w.Code)
		}
	}
	if r := f.get(t); !r.Announced || rec.count(events.RunSucceeded) != 1 {
		t.Fatalf("after the redelivery: announced %v, %d run.succeeded events", r.Announced, rec.count(events.RunSucceeded))
	}
}

// The chaos finding of seed 19 with lost marker replies at 0.8: a late
// duplicate of the storage event, after the run ended and was announced,
// writes the run's active mark again; the write lands, and its replies (and
// those of the client's retries) are lost. The mark lives exactly as long as
// the client retries, with backoff: once Start returns, it is gone, and the
// run record is untouched.
func TestLateDuplicateEventWithLostMarkerRepliesLeavesNoMark(t *testing.T) {
	gcs, proxy := gcsemutest.StartBehindProxy(t, faultproxy.Faults{}, "state")
	f := newFixture(t)
	f.store = run.NewStore(gcs, "state")
	f.k.store = f.store
	if _, err := f.k.Start(context.Background(), f.run); err != nil {
		t.Fatal(err)
	}
	for _, step := range run.Plan {
		if w := f.deliver(done(step), f.task(step, 0), 0); w.Code != 200 {
			t.Fatalf("%s: %d %s", step, w.Code, w.Body)
		}
	}
	ended := f.get(t)
	if !ended.Announced || f.marked(t) {
		t.Fatalf("run not ended cleanly: announced %v marked %v", ended.Announced, f.marked(t))
	}
	const lost = 5 // the mark's write and four of its retries
	proxy.LoseNextWrites(lost)
	dup := *f.run
	if created, err := f.k.Start(context.Background(), &dup); err != nil || created {
		t.Fatalf("late duplicate Start = %v, %v", created, err)
	}
	if st := proxy.Stats(); st.LostResponses < lost {
		t.Fatalf("%d replies lost, want %d", st.LostResponses, lost)
	}
	if f.marked(t) {
		t.Fatal("the late duplicate left the ended run marked active")
	}
	if r := f.get(t); r.Generation() != ended.Generation() {
		t.Fatalf("the late duplicate rewrote the record: %+v", r)
	}
}
