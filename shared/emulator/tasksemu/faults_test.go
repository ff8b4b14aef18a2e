package tasksemu

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
)

// runDuplicates delivers n always-successful tasks with the given duplicate
// rate and returns the stats and per-task delivery counts.
func runDuplicates(t *testing.T, seed int64, n int) (Stats, *target) {
	t.Helper()
	e := newEnv(t, Options{Faults: Faults{Seed: seed, DuplicateRate: 0.5}})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "dups", nil, nil)
	for i := range n {
		e.createTask(t, q, httpTask(tg.url(), q+"/tasks/d"+strconv.Itoa(i), nil))
	}
	e.waitIdle(t)
	return e.srv.Stats(), tg
}

func TestDuplicateRateDeliversExtra(t *testing.T) {
	t.Parallel()
	const n = 40
	st, tg := runDuplicates(t, 7, n)
	if st.InjectedDuplicates == 0 || st.InjectedDuplicates == n {
		t.Fatalf("InjectedDuplicates = %d of %d at rate 0.5", st.InjectedDuplicates, n)
	}
	total, twice := 0, 0
	for i := range n {
		c := tg.countFor("d" + strconv.Itoa(i))
		if c < 1 || c > 2 {
			t.Errorf("task d%d delivered %d times", i, c)
		}
		if c == 2 {
			twice++
		}
		total += c
	}
	if total != n+st.InjectedDuplicates || twice != st.InjectedDuplicates {
		t.Errorf("deliveries %d (%d twice), want %d + %d duplicates", total, twice, n, st.InjectedDuplicates)
	}
	if st.Dispatches != total || st.Succeeded != n {
		t.Errorf("stats = %+v", st)
	}
	// Same seed, same number of attempts: same number of duplicates.
	again, _ := runDuplicates(t, 7, n)
	if again.InjectedDuplicates != st.InjectedDuplicates {
		t.Errorf("seed 7 gave %d then %d duplicates", st.InjectedDuplicates, again.InjectedDuplicates)
	}
}

func TestCreateErrorRateIsAmbiguous(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: Faults{Seed: 3, CreateErrorRate: 1}})
	q := e.createQueue(t, "flaky-create", nil, nil)
	e.pause(t, q)
	const n = 20
	for i := range n {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q,
			Task: httpTask("http://127.0.0.1:1/", q+"/tasks/c"+strconv.Itoa(i), nil)})
		wantCode(t, err, codes.Unavailable)
	}
	st := e.srv.Stats()
	stored := e.srv.Pending(q)
	if st.InjectedCreateErrors != n || st.InjectedCreateErrorsStored != stored || stored == 0 || stored == n {
		t.Fatalf("stored %d of %d failed creates; stats %+v", stored, n, st)
	}

	// A caller retrying with the same names sees AlreadyExists exactly for
	// the tasks that were stored despite the error.
	e.srv.SetFaults(Faults{})
	exists := 0
	for i := range n {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q,
			Task: httpTask("http://127.0.0.1:1/", q+"/tasks/c"+strconv.Itoa(i), nil)})
		switch statusCode(err) {
		case codes.AlreadyExists:
			exists++
		case codes.OK:
		default:
			t.Fatalf("retry create: %v", err)
		}
	}
	if exists != stored || e.srv.Pending(q) != n {
		t.Errorf("AlreadyExists %d, want %d; pending %d, want %d", exists, stored, e.srv.Pending(q), n)
	}
}

func TestDispatchDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: Faults{DispatchDelay: 200 * time.Millisecond}})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "delayed", nil, nil)
	start := time.Now()
	e.createTask(t, q, httpTask(tg.url(), "", nil))
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != 1 || ds[0].at.Sub(start) < 200*time.Millisecond {
		t.Fatalf("deliveries %d, first after %v", len(ds), ds[0].at.Sub(start))
	}
	e.srv.SetFaults(Faults{})
	start = time.Now()
	e.createTask(t, q, httpTask(tg.url(), "", nil))
	e.waitIdle(t)
	if ds := tg.snapshot(); len(ds) != 2 || ds[1].at.Sub(start) > 150*time.Millisecond {
		t.Errorf("after SetFaults: deliveries %d, took %v", len(ds), ds[len(ds)-1].at.Sub(start))
	}
}

func TestDuplicateHandlerFailureDoesNotAffectTask(t *testing.T) {
	t.Parallel()
	// Every attempt duplicated (rate 1); the handler fails only the second
	// delivery it sees. The task still completes exactly once from the
	// emulator's point of view.
	e := newEnv(t, Options{Faults: Faults{Seed: 1, DuplicateRate: 1}})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	q := e.createQueue(t, "dup-fail", nil, fastRetry(5))
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/x", nil))
	e.waitIdle(t)
	st := e.srv.Stats()
	if st.Succeeded+st.Retries < 1 || st.Dispatches != st.InjectedDuplicates+st.Succeeded+st.Retries {
		t.Errorf("stats = %+v", st)
	}
	if st.Succeeded != 1 || st.Dropped != 0 {
		t.Errorf("Succeeded %d Dropped %d, want 1 0", st.Succeeded, st.Dropped)
	}
}

// Backlog keeps due tasks stored and undelivered until it is lifted.
func TestBacklogHoldsTasksUntilLifted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: Faults{Backlog: time.Hour}})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "backlog", nil, nil)
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/held", nil))
	time.Sleep(200 * time.Millisecond)
	if n := tg.countFor("held"); n != 0 {
		t.Fatalf("delivered %d times during the backlog", n)
	}
	if _, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: q + "/tasks/held"}); err != nil {
		t.Fatalf("GetTask of a waiting task: %v", err)
	}
	e.srv.SetFaults(Faults{})
	e.waitIdle(t)
	if n := tg.countFor("held"); n != 1 {
		t.Fatalf("delivered %d times after the backlog, want 1", n)
	}
	_, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: q + "/tasks/held"})
	wantCode(t, err, codes.NotFound)
}
