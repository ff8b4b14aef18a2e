package tasksemu

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestBackoffSchedule(t *testing.T) {
	t.Parallel()
	// The example from the RetryConfig.max_doublings documentation.
	p := retryPolicy{minBackoff: 10 * time.Second, maxBackoff: 300 * time.Second, maxDoublings: 3}
	want := []time.Duration{10, 20, 40, 80, 160, 240, 300, 300}
	for i, w := range want {
		if got := p.backoff(i + 1); got != w*time.Second {
			t.Errorf("retry %d: %v, want %v", i+1, got, w*time.Second)
		}
	}
	huge := retryPolicy{minBackoff: time.Second, maxBackoff: time.Hour, maxDoublings: 16}
	if got := huge.backoff(10000); got != time.Hour {
		t.Errorf("retry 10000: %v, want cap", got)
	}
}

func TestExhausted(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	cases := []struct {
		name     string
		p        retryPolicy
		attempts int32
		elapsed  time.Duration
		want     bool
	}{
		{"attempts only, below", retryPolicy{maxAttempts: 3}, 2, time.Hour, false},
		{"attempts only, reached", retryPolicy{maxAttempts: 3}, 3, 0, true},
		{"unlimited attempts, no duration", retryPolicy{maxAttempts: -1}, 1e6, 24 * time.Hour, false},
		{"duration only, below", retryPolicy{maxAttempts: -1, maxRetryDuration: time.Minute}, 50, 30 * time.Second, false},
		{"duration only, reached", retryPolicy{maxAttempts: -1, maxRetryDuration: time.Minute}, 2, time.Minute, true},
		{"both, attempts left", retryPolicy{maxAttempts: 5, maxRetryDuration: time.Minute}, 4, time.Hour, false},
		{"both, time left", retryPolicy{maxAttempts: 5, maxRetryDuration: time.Minute}, 9, time.Second, false},
		{"both used up", retryPolicy{maxAttempts: 5, maxRetryDuration: time.Minute}, 5, time.Minute, true},
	}
	for _, c := range cases {
		if got := c.p.exhausted(c.attempts, t0, t0.Add(c.elapsed)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(v string) http.Header { return http.Header{"Retry-After": []string{v}} }
	if d, ok := retryAfter(503, h("3"), now); !ok || d != 3*time.Second {
		t.Errorf("503 3: %v %v", d, ok)
	}
	if d, ok := retryAfter(429, h(now.Add(7*time.Second).Format(http.TimeFormat)), now); !ok || d != 7*time.Second {
		t.Errorf("429 date: %v %v", d, ok)
	}
	if _, ok := retryAfter(500, h("3"), now); ok {
		t.Error("500 honoured Retry-After")
	}
	if _, ok := retryAfter(503, http.Header{}, now); ok {
		t.Error("503 without header")
	}
	if _, ok := retryAfter(503, h("soon"), now); ok {
		t.Error("503 with garbage")
	}
}

func TestRetryWithBackoffUntilSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	q := e.createQueue(t, "retry", nil, &cloudtaskspb.RetryConfig{
		MaxAttempts:  10,
		MinBackoff:   durationpb.New(40 * time.Millisecond),
		MaxBackoff:   durationpb.New(time.Second),
		MaxDoublings: 2,
	})
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/flaky", nil))
	e.waitIdle(t)

	ds := tg.snapshot()
	if len(ds) != 4 {
		t.Fatalf("got %d deliveries, want 4", len(ds))
	}
	minGap := []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}
	for i, d := range ds {
		if got := d.header.Get("X-CloudTasks-TaskRetryCount"); got != strconv.Itoa(i) {
			t.Errorf("attempt %d: retry count %q", i, got)
		}
		if got := d.header.Get("X-CloudTasks-TaskExecutionCount"); got != "0" {
			t.Errorf("attempt %d: execution count %q, want 0 (5xx answers do not count)", i, got)
		}
		if i == 0 {
			continue
		}
		if got := d.header.Get("X-CloudTasks-TaskPreviousResponse"); got != "500" {
			t.Errorf("attempt %d: previous response %q", i, got)
		}
		if gap := d.at.Sub(ds[i-1].at); gap < minGap[i-1] {
			t.Errorf("gap before attempt %d: %v, want >= %v", i, gap, minGap[i-1])
		}
	}
	st := e.srv.Stats()
	if st.Retries != 3 || st.StatusCodes[500] != 3 || st.StatusCodes[200] != 1 || st.Succeeded != 1 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestMaxAttemptsDropsTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusBadRequest) })
	q := e.createQueue(t, "doomed", nil, fastRetry(3))
	name := q + "/tasks/doomed-1"
	e.createTask(t, q, httpTask(tg.url(), name, nil))
	e.waitIdle(t)
	if got := tg.countFor("doomed-1"); got != 3 {
		t.Errorf("delivered %d times, want 3", got)
	}
	st := e.srv.Stats()
	if st.Dropped != 1 || st.Retries != 2 || st.StatusCodes[400] != 3 {
		t.Errorf("stats = %+v", st)
	}
	_, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: name})
	wantCode(t, err, codes.NotFound)
	_, err = e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), name, nil)})
	wantCode(t, err, codes.AlreadyExists)
}

func TestDispatchDeadlineCancelsAndRetries(t *testing.T) {
	t.Parallel()
	// 15s scaled by 0.01 is a 150ms deadline.
	e := newEnv(t, Options{DeadlineScale: 0.01})
	cancelled := make(chan bool, 1)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			select {
			case <-r.Context().Done():
				cancelled <- true
			case <-time.After(5 * time.Second):
				cancelled <- false
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	q := e.createQueue(t, "deadline", nil, fastRetry(5))
	tk := httpTask(tg.url(), q+"/tasks/slow", nil)
	tk.DispatchDeadline = durationpb.New(15 * time.Second)
	e.createTask(t, q, tk)
	e.waitIdle(t)

	if !<-cancelled {
		t.Error("slow handler's request was not cancelled at the deadline")
	}
	ds := tg.snapshot()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	if gap := ds[1].at.Sub(ds[0].at); gap < 150*time.Millisecond || gap > 2*time.Second {
		t.Errorf("retry %v after the first attempt, want deadline (150ms) + backoff", gap)
	}
	if got := ds[1].header.Get("X-CloudTasks-TaskRetryCount"); got != "1" {
		t.Errorf("retry count %q, want 1", got)
	}
	if got := ds[1].header.Get("X-CloudTasks-TaskExecutionCount"); got != "0" {
		t.Errorf("execution count %q, want 0 (the first attempt got no response)", got)
	}
	if st := e.srv.Stats(); st.DeadlineExceeded != 1 || st.Retries != 1 || st.Succeeded != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n {
		case 0:
			w.WriteHeader(http.StatusTooManyRequests) // no Retry-After: normal backoff
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	q := e.createQueue(t, "throttled", nil, fastRetry(10))
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/t", nil))
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != 3 {
		t.Fatalf("got %d deliveries, want 3", len(ds))
	}
	if gap := ds[1].at.Sub(ds[0].at); gap > 700*time.Millisecond {
		t.Errorf("429 without Retry-After waited %v, want the 10ms backoff", gap)
	}
	if gap := ds[2].at.Sub(ds[1].at); gap < 950*time.Millisecond {
		t.Errorf("503 with Retry-After: 1 waited only %v", gap)
	}
	if st := e.srv.Stats(); st.StatusCodes[429] != 1 || st.StatusCodes[503] != 1 || st.Succeeded != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestTransportErrorRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	// The handler drops the connection without answering: a transport error.
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	})
	q := e.createQueue(t, "unreachable", nil, fastRetry(2))
	e.createTask(t, q, httpTask(tg.url(), "", nil))
	e.waitIdle(t)
	if st := e.srv.Stats(); st.TransportErrors != 2 || st.Dropped != 1 || st.Dispatches != 2 {
		t.Errorf("stats = %+v", st)
	}
}
