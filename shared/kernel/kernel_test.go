package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// queue records enqueued tasks, de-duplicating by name like Cloud Tasks.
type queue struct {
	mu    sync.Mutex
	tasks []taskq.Task
	due   map[string]time.Time
	fail  error
}

func (q *queue) Enqueue(_ context.Context, t taskq.Task, notBefore time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	if q.due == nil {
		q.due = map[string]time.Time{}
	}
	if _, ok := q.due[t.Name()]; ok {
		return nil
	}
	q.due[t.Name()] = notBefore
	q.tasks = append(q.tasks, t)
	return nil
}

func (q *queue) names() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var n []string
	for _, t := range q.tasks {
		n = append(n, t.Name())
	}
	return n
}

type specs struct{ p *spec.Pipeline }

func (s specs) Pipeline(context.Context, string) (*spec.Pipeline, error) { return s.p, nil }

// stepFunc adapts a function to Step.
type stepFunc struct {
	name string
	fn   func(ctx context.Context, x *Exec) (Outcome, error)
}

func (s stepFunc) Name() string                                      { return s.name }
func (s stepFunc) Run(ctx context.Context, x *Exec) (Outcome, error) { return s.fn(ctx, x) }

type fixture struct {
	k     *Kernel
	store *run.Store
	q     *queue
	clock *clock
	run   *run.Run
}

const budget = time.Minute

func newFixture(t *testing.T) *fixture {
	t.Helper()
	gcs := gcsemutest.Start(t, "state")
	f := &fixture{store: run.NewStore(gcs, "state"), q: &queue{}, clock: &clock{t: time.Now()}}
	f.k = New(Deps{
		Store: f.store, Queue: f.q,
		Specs:  specs{&spec.Pipeline{Name: "p", Schema: schema.Schema{Columns: []schema.Column{{Name: "a", Type: schema.String}}}}},
		Config: Config{Budget: budget, SafetyMargin: 10 * time.Second, PollInterval: 30 * time.Second, MaxAttempts: 3},
		Now:    f.clock.now,
	})
	src := run.Source{Bucket: "inbox", Object: "incoming/20260426-120000.csv", Generation: 1}
	f.run = run.New(run.ID("p", src), "p", src, "20260426", run.Plan, f.clock.now())
	if created, err := f.k.Start(context.Background(), f.run); err != nil || !created {
		t.Fatalf("Start = %v, %v", created, err)
	}
	return f
}

// deliver posts task t to step s as Cloud Tasks would, with retry count n.
func (f *fixture) deliver(s Step, t taskq.Task, retry int) *httptest.ResponseRecorder {
	body, _ := json.Marshal(t)
	req := httptest.NewRequest(http.MethodPost, "/"+s.Name(), bytes.NewReader(body))
	req.Header.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(retry))
	w := httptest.NewRecorder()
	f.k.Handler(s).ServeHTTP(w, req)
	return w
}

func (f *fixture) task(step string, seg int) taskq.Task {
	return taskq.Task{RunID: f.run.ID, Epoch: 1, Step: step, Segment: seg}
}

func (f *fixture) get(t *testing.T) *run.Run {
	t.Helper()
	r, err := f.store.Get(context.Background(), f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func done(name string) Step {
	return stepFunc{name, func(context.Context, *Exec) (Outcome, error) { return Done(), nil }}
}

func TestDoneAdvancesAndEnqueuesNext(t *testing.T) {
	f := newFixture(t)
	if w := f.deliver(done(run.Preprocess), f.task(run.Preprocess, 0), 0); w.Code != 200 {
		t.Fatalf("code %d: %s", w.Code, w.Body)
	}
	r := f.get(t)
	if r.Step != run.Load || r.Segment != 0 || r.StepState(run.Preprocess).Status != run.StepDone || r.StepState(run.Preprocess).Attempts != 1 {
		t.Fatalf("record after done: step=%s seg=%d pre=%+v", r.Step, r.Segment, r.StepState(run.Preprocess))
	}
	want := []string{f.task(run.Preprocess, 0).Name(), f.task(run.Load, 0).Name()}
	if got := f.q.names(); !equal(got, want) {
		t.Fatalf("enqueued %v, want %v", got, want)
	}
}

func TestLastStepSucceedsRun(t *testing.T) {
	f := newFixture(t)
	for _, s := range run.Plan {
		if w := f.deliver(done(s), f.task(s, 0), 0); w.Code != 200 {
			t.Fatalf("%s: code %d: %s", s, w.Code, w.Body)
		}
	}
	if r := f.get(t); r.Status != run.Succeeded || r.FinishedAt.IsZero() {
		t.Fatalf("status %s", r.Status)
	}
}

func TestContinueSavesCheckpointAndRequeuesSelf(t *testing.T) {
	f := newFixture(t)
	type cp struct{ N int }
	s := stepFunc{run.Preprocess, func(_ context.Context, x *Exec) (Outcome, error) {
		var c cp
		if _, err := x.Checkpoint(&c); err != nil {
			return Outcome{}, err
		}
		x.SetCounter(run.RowsIn, int64(c.N+1)*10)
		if c.N < 2 {
			return Continue(cp{c.N + 1}), nil
		}
		return Done(), nil
	}}
	for seg := range 3 {
		if w := f.deliver(s, f.task(run.Preprocess, seg), 0); w.Code != 200 {
			t.Fatalf("segment %d: code %d: %s", seg, w.Code, w.Body)
		}
	}
	r := f.get(t)
	st := r.StepState(run.Preprocess)
	if st.Status != run.StepDone || st.Segments != 2 || st.Attempts != 3 || r.Counters[run.RowsIn] != 30 {
		t.Fatalf("state %+v counters %v", st, r.Counters)
	}
	if got := f.q.names(); len(got) != 4 || got[3] != f.task(run.Load, 0).Name() {
		t.Fatalf("enqueued %v", got)
	}
}

func TestPollLaterSchedulesSelf(t *testing.T) {
	f := newFixture(t)
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		return PollLater(0, map[string]string{"job": "j1"}), nil
	}}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 200 {
		t.Fatalf("code %d", w.Code)
	}
	next := f.task(run.Preprocess, 1).Name()
	if due := f.q.due[next]; !due.Equal(f.clock.now().Add(30 * time.Second)) {
		t.Fatalf("poll task due %v", due)
	}
	if cp := checkpoint(t, f.get(t), run.Preprocess); cp["job"] != "j1" {
		t.Fatalf("checkpoint %v", cp)
	}
}

func TestFailedStopsRun(t *testing.T) {
	f := newFixture(t)
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		return Failed(errors.New("f.csv:3: header: missing column")), nil
	}}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 200 {
		t.Fatalf("a permanent failure must be answered 2xx, got %d", w.Code)
	}
	r := f.get(t)
	if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Preprocess || r.Error.Message != "f.csv:3: header: missing column" {
		t.Fatalf("record %+v", r.Error)
	}
	if len(f.q.names()) != 1 {
		t.Fatalf("a failed run enqueued %v", f.q.names())
	}
	// A redelivery of the task finds the run finished and changes nothing.
	if w := f.deliver(s, f.task(run.Preprocess, 0), 1); w.Code != 200 {
		t.Fatalf("redelivery code %d", w.Code)
	}
	if f.get(t).Generation() != r.Generation() {
		t.Fatal("redelivery to a failed run changed the record")
	}
}

func TestTransientErrorRetriesThenFailsOnLastAttempt(t *testing.T) {
	f := newFixture(t)
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) { return Outcome{}, errors.New("backend unavailable") }}
	for retry := range 2 {
		if w := f.deliver(s, f.task(run.Preprocess, 0), retry); w.Code != 500 {
			t.Fatalf("retry %d: code %d", retry, w.Code)
		}
		r := f.get(t)
		if st := r.StepState(run.Preprocess); st.Lease != nil || st.LastError != "backend unavailable" || r.Status != run.Running {
			t.Fatalf("after transient error: %+v", st)
		}
	}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 2); w.Code != 200 {
		t.Fatalf("last attempt: code %d", w.Code)
	}
	r := f.get(t)
	if r.Status != run.Failed || r.StepState(run.Preprocess).Attempts != 3 {
		t.Fatalf("after last attempt: status %s attempts %d", r.Status, r.StepState(run.Preprocess).Attempts)
	}
}

func TestPanicIsTransient(t *testing.T) {
	f := newFixture(t)
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) { panic("boom") }}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 500 {
		t.Fatalf("code %d", w.Code)
	}
	if st := f.get(t).StepState(run.Preprocess); st.Lease != nil || st.LastError == "" {
		t.Fatalf("state %+v", st)
	}
}

func TestDuplicateDeliveryWhileRunningIsRefused(t *testing.T) {
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	var runs sync.WaitGroup
	calls := 0
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		calls++
		close(started)
		<-release
		return Done(), nil
	}}
	runs.Add(1)
	var first *httptest.ResponseRecorder
	go func() { defer runs.Done(); first = f.deliver(s, f.task(run.Preprocess, 0), 0) }()
	<-started
	dup := f.deliver(s, f.task(run.Preprocess, 0), 0)
	if dup.Code != 503 || dup.Header().Get("Retry-After") == "" {
		t.Fatalf("duplicate while running: code %d Retry-After %q", dup.Code, dup.Header().Get("Retry-After"))
	}
	close(release)
	runs.Wait()
	if first.Code != 200 || calls != 1 {
		t.Fatalf("first: code %d, step ran %d times", first.Code, calls)
	}
	// The duplicate's retry finds the step done and only re-ensures the next task.
	if w := f.deliver(s, f.task(run.Preprocess, 0), 1); w.Code != 200 || calls != 1 {
		t.Fatalf("retried duplicate: code %d, step ran %d times", w.Code, calls)
	}
	if r := f.get(t); r.StepState(run.Preprocess).Attempts != 1 || r.Step != run.Load {
		t.Fatalf("record %+v", r.StepState(run.Preprocess))
	}
}

func TestExpiredHolderCannotCommit(t *testing.T) {
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	var saveErr error
	stale := stepFunc{run.Preprocess, func(ctx context.Context, x *Exec) (Outcome, error) {
		close(started)
		<-release
		saveErr = x.Save(ctx, map[string]int{"stale": 1})
		return Done(), nil
	}}
	var wg sync.WaitGroup
	wg.Add(1)
	var staleReply *httptest.ResponseRecorder
	go func() { defer wg.Done(); staleReply = f.deliver(stale, f.task(run.Preprocess, 0), 0) }()
	<-started
	// The first holder hangs past its lease; Cloud Tasks redelivers and the
	// second delivery takes the step over with a newer fence.
	f.clock.add(budget + time.Minute)
	fresh := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) { return Continue(map[string]int{"fresh": 1}), nil }}
	if w := f.deliver(fresh, f.task(run.Preprocess, 0), 1); w.Code != 200 {
		t.Fatalf("takeover: code %d: %s", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	if !errors.Is(saveErr, ErrLeaseLost) {
		t.Fatalf("stale Save = %v, want ErrLeaseLost", saveErr)
	}
	if staleReply.Code != 503 {
		t.Fatalf("stale commit answered %d, want 503", staleReply.Code)
	}
	r := f.get(t)
	st := r.StepState(run.Preprocess)
	if cp := checkpoint(t, r, run.Preprocess); cp["fresh"] != 1.0 || cp["stale"] != nil || st.Status == run.StepDone || r.Segment != 1 {
		t.Fatalf("stale holder changed the record: %+v segment %d", st, r.Segment)
	}
}

func TestHolderPastItsLeaseCannotCommitEvenUnchallenged(t *testing.T) {
	f := newFixture(t)
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		f.clock.add(budget + time.Minute) // outlives the lease; nobody took over
		return Done(), nil
	}}
	if w := f.deliver(s, f.task(run.Preprocess, 0), 0); w.Code != 503 {
		t.Fatalf("code %d", w.Code)
	}
	if r := f.get(t); r.Step != run.Preprocess || r.StepState(run.Preprocess).Status == run.StepDone {
		t.Fatal("an expired holder committed")
	}
}

func TestOldTaskRedrivesCurrentOne(t *testing.T) {
	f := newFixture(t)
	// The run advanced, but the delivery that advanced it died before enqueueing.
	f.q.fail = errors.New("unavailable")
	if w := f.deliver(done(run.Preprocess), f.task(run.Preprocess, 0), 0); w.Code != 500 {
		t.Fatalf("enqueue failure must be retried, got %d", w.Code)
	}
	f.q.fail = nil
	if w := f.deliver(done(run.Preprocess), f.task(run.Preprocess, 0), 1); w.Code != 200 {
		t.Fatalf("code %d", w.Code)
	}
	if got := f.q.names(); got[len(got)-1] != f.task(run.Load, 0).Name() {
		t.Fatalf("enqueued %v", got)
	}
	if a := f.get(t).StepState(run.Preprocess).Attempts; a != 1 {
		t.Fatalf("step ran %d times", a)
	}
}

func TestBadTasksAreRejectedAndChangeNothing(t *testing.T) {
	f := newFixture(t)
	before := f.get(t).Generation()
	s := done(run.Preprocess)
	cases := map[string]struct {
		body string
		code int
	}{
		"not json":     {`{`, 400},
		"wrong step":   {`{"run_id":"` + f.run.ID + `","epoch":1,"step":"load","segment":0}`, 400},
		"forged id":    {`{"run_id":"../../etc","epoch":1,"step":"preprocess","segment":0}`, 400},
		"unknown run":  {`{"run_id":"p-x-0123456789","epoch":1,"step":"preprocess","segment":0}`, 404},
		"bad segment":  {`{"run_id":"` + f.run.ID + `","epoch":1,"step":"preprocess","segment":-1}`, 400},
		"oversized":    {`{"run_id":"` + string(bytes.Repeat([]byte("a"), 5000)) + `"}`, 400},
		"future epoch": {`{"run_id":"` + f.run.ID + `","epoch":7,"step":"preprocess","segment":0}`, 200},
	}
	for name, c := range cases {
		req := httptest.NewRequest(http.MethodPost, "/preprocess", bytes.NewReader([]byte(c.body)))
		w := httptest.NewRecorder()
		f.k.Handler(s).ServeHTTP(w, req)
		if w.Code != c.code {
			t.Errorf("%s: code %d, want %d", name, w.Code, c.code)
		}
	}
	if f.get(t).Generation() != before {
		t.Fatal("a bad task changed the run record")
	}
}

func TestStartIsIdempotent(t *testing.T) {
	f := newFixture(t)
	again := *f.run
	created, err := f.k.Start(context.Background(), &again)
	if err != nil || created {
		t.Fatalf("second Start = %v, %v", created, err)
	}
	if got := f.q.names(); len(got) != 1 {
		t.Fatalf("enqueued %v", got)
	}
}

func TestBudgetForcesSelfRequeue(t *testing.T) {
	f := newFixture(t)
	const items = 7
	// Each invocation processes items until its deadline (3 per invocation
	// here, one clock tick each), then checkpoints.
	s := stepFunc{run.Preprocess, func(ctx context.Context, x *Exec) (Outcome, error) {
		var next int
		x.Checkpoint(&next)
		for next < items {
			if !f.clock.now().Before(x.Deadline) {
				return Continue(next), nil
			}
			next++
			f.clock.add(budget / 3)
		}
		x.SetCounter(run.RowsIn, int64(next))
		return Done(), nil
	}}
	seg := 0
	for f.get(t).Step == run.Preprocess {
		if w := f.deliver(s, f.task(run.Preprocess, seg), 0); w.Code != 200 {
			t.Fatalf("segment %d: %d %s", seg, w.Code, w.Body)
		}
		seg++
	}
	r := f.get(t)
	if r.Counters[run.RowsIn] != items || r.StepState(run.Preprocess).Segments != 2 {
		t.Fatalf("counters %v segments %d", r.Counters, r.StepState(run.Preprocess).Segments)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkpoint(t *testing.T, r *run.Run, step string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.StepState(step).Checkpoint, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBusyRetryAfterIsBoundedByThePollInterval(t *testing.T) {
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		close(started)
		<-release
		return Done(), nil
	}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.deliver(s, f.task(run.Preprocess, 0), 0) }()
	<-started
	dup := f.deliver(s, f.task(run.Preprocess, 0), 0)
	close(release)
	wg.Wait()
	if got := dup.Header().Get("Retry-After"); got != "30" { // the poll interval, not the 70s lease
		t.Fatalf("Retry-After %q", got)
	}
}
