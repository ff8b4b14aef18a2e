package kernel

// The production side of the Cloud Tasks delivery fixtures in
// shared/conformance: the documented request headers and answer codes are
// fed to the handler, not what the emulator sends.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/taskq"
)

// documentedRequest reads a fixture's HTTP request.
func documentedRequest(t *testing.T, data []byte) *http.Request {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatalf("fixture request: %v", err)
	}
	return req
}

// deliverHeaders posts task tk to step s with header h, as Cloud Tasks does.
func (f *fixture) deliverHeaders(s Step, tk taskq.Task, h http.Header) *httptest.ResponseRecorder {
	body, _ := json.Marshal(tk)
	req := httptest.NewRequest(http.MethodPost, "/"+s.Name(), bytes.NewReader(body))
	for k, vs := range h {
		req.Header[k] = vs
	}
	w := httptest.NewRecorder()
	f.k.Handler(s).ServeHTTP(w, req)
	return w
}

func failing(name string) Step {
	return stepFunc{name, func(context.Context, *Exec) (Outcome, error) { return Outcome{}, errors.New("backend unavailable") }}
}

func TestConformanceDispatchHeaders(t *testing.T) {
	doc := documentedRequest(t, conformance.Load(t, "tasks-dispatch-headers").MustFile(t, "request.txt"))
	want, err := strconv.Atoi(doc.Header.Get("X-CloudTasks-TaskRetryCount"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	attempt := -1
	s := stepFunc{run.Preprocess, func(_ context.Context, x *Exec) (Outcome, error) { attempt = x.Attempt; return Done(), nil }}
	if w := f.deliverHeaders(s, f.task(run.Preprocess, 0), doc.Header); w.Code != http.StatusOK {
		t.Fatalf("code %d: %s", w.Code, w.Body)
	}
	if attempt != want {
		t.Errorf("step saw attempt %d, want the TaskRetryCount %d", attempt, want)
	}
}

// attemptLine is one line of tasks-retry-execution-count's attempts.txt.
type attemptLine struct{ retry, exec, answer int }

func attemptLines(t *testing.T, data []byte) []attemptLine {
	t.Helper()
	var out []attemptLine
	for line := range strings.Lines(string(data)) {
		fs := strings.Fields(line)
		if len(fs) == 0 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		var a attemptLine
		for i, p := range []*int{&a.retry, &a.exec, &a.answer} {
			n, err := strconv.Atoi(fs[i])
			if err != nil {
				t.Fatalf("attempts line %q: %v", line, err)
			}
			*p = n
		}
		out = append(out, a)
	}
	return out
}

// TestConformanceRetryCountDrivesLastAttempt: after 5xx answers the
// execution count stays 0 while the retry count grows, and max_attempts
// counts attempts; the kernel must know the last attempt by the retry count.
func TestConformanceRetryCountDrivesLastAttempt(t *testing.T) {
	lines := attemptLines(t, conformance.Load(t, "tasks-retry-execution-count").MustFile(t, "attempts.txt"))
	// The first line whose predecessors all answered 5xx and that has a
	// retry count above its execution count.
	var last attemptLine
	for _, l := range lines {
		if l.exec != 0 {
			break
		}
		last = l
	}
	if last.retry == last.exec {
		t.Fatal("fixture has no attempt after a 5xx")
	}
	f := newFixture(t)
	f.k.cfg.MaxAttempts = last.retry + 1 // this attempt is the queue's last
	for _, l := range lines {
		if l.retry > last.retry {
			break
		}
		h := http.Header{}
		h.Set("X-CloudTasks-TaskRetryCount", strconv.Itoa(l.retry))
		h.Set("X-CloudTasks-TaskExecutionCount", strconv.Itoa(l.exec))
		w := f.deliverHeaders(failing(run.Preprocess), f.task(run.Preprocess, 0), h)
		final := l.retry == last.retry
		switch r := f.get(t); {
		case final && (w.Code/100 != 2 || r.Status != run.Failed):
			t.Errorf("last attempt (retry %d, execution %d): code %d, run %s; want 2xx and a failed run", l.retry, l.exec, w.Code, r.Status)
		case !final && (w.Code/100 == 2 || r.Status != run.Running):
			t.Errorf("attempt retry %d, execution %d: code %d, run %s; want a retry and a running run", l.retry, l.exec, w.Code, r.Status)
		}
	}
}

func TestConformanceMaxAttempts(t *testing.T) {
	rc := map[string]int{}
	for line := range strings.Lines(string(conformance.Load(t, "tasks-max-attempts").MustFile(t, "retry-config.txt"))) {
		k, v, _ := strings.Cut(line, ":")
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			rc[strings.TrimSpace(k)] = n
		}
	}
	f := newFixture(t)
	f.k.cfg.MaxAttempts = rc["max_attempts"]
	for retry := 0; retry <= rc["last_retry_count"]; retry++ {
		w := f.deliver(failing(run.Preprocess), f.task(run.Preprocess, 0), retry)
		r := f.get(t)
		if retry < rc["last_retry_count"] {
			if w.Code/100 == 2 || r.Status != run.Running {
				t.Fatalf("retry %d: code %d, run %s; want a retry", retry, w.Code, r.Status)
			}
			continue
		}
		if w.Code/100 != 2 || r.Status != run.Failed || r.StepState(run.Preprocess).Attempts != rc["max_attempts"] {
			t.Fatalf("last attempt: code %d, run %s after %d attempts; want 2xx, failed after %d",
				w.Code, r.Status, r.StepState(run.Preprocess).Attempts, rc["max_attempts"])
		}
	}
}

func TestConformanceSuccessCodes(t *testing.T) {
	var success []int
	for line := range strings.Lines(string(conformance.Load(t, "tasks-success-codes").MustFile(t, "codes.txt"))) {
		k, v, _ := strings.Cut(line, ":")
		if strings.TrimSpace(k) != "success" {
			continue
		}
		for _, c := range strings.Fields(v) {
			n, _ := strconv.Atoi(c)
			success = append(success, n)
		}
	}
	lo, hi := success[0], success[len(success)-1]
	isSuccess := func(code int) bool { return code >= lo && code <= hi }

	f := newFixture(t)
	// Done: no retry wanted.
	if w := f.deliver(done(run.Preprocess), f.task(run.Preprocess, 0), 0); !isSuccess(w.Code) {
		t.Errorf("done: code %d, want %d-%d", w.Code, lo, hi)
	}
	// A duplicate of a finished step and a task of an older epoch: no retry wanted.
	if w := f.deliver(done(run.Preprocess), f.task(run.Preprocess, 0), 0); !isSuccess(w.Code) {
		t.Errorf("duplicate: code %d, want %d-%d", w.Code, lo, hi)
	}
	if w := f.deliver(done(run.Load), taskq.Task{RunID: f.run.ID, Epoch: 7, Step: run.Load}, 0); !isSuccess(w.Code) {
		t.Errorf("stale: code %d, want %d-%d", w.Code, lo, hi)
	}
	// A transient error: a retry wanted.
	if w := f.deliver(failing(run.Load), f.task(run.Load, 0), 0); isSuccess(w.Code) {
		t.Errorf("transient error: code %d, want a code Cloud Tasks retries", w.Code)
	}
}

func TestConformanceRetryAfter(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(conformance.Load(t, "tasks-retry-after").MustFile(t, "response.txt"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	started, release := make(chan struct{}), make(chan struct{})
	s := stepFunc{run.Preprocess, func(context.Context, *Exec) (Outcome, error) {
		close(started)
		<-release
		return Done(), nil
	}}
	var wg sync.WaitGroup
	wg.Go(func() { f.deliver(s, f.task(run.Preprocess, 0), 0) })
	<-started
	busy := f.deliver(s, f.task(run.Preprocess, 0), 0)
	close(release)
	wg.Wait()
	if busy.Code != resp.StatusCode {
		t.Errorf("busy step: code %d, want %d", busy.Code, resp.StatusCode)
	}
	// Retry-After in the documented form: delay-seconds, a whole number.
	want, got := resp.Header.Get("Retry-After"), busy.Header().Get("Retry-After")
	if _, err := strconv.Atoi(want); err != nil {
		t.Fatalf("fixture Retry-After %q", want)
	}
	if n, err := strconv.Atoi(got); err != nil || n < 1 || strings.TrimSpace(got) != got {
		t.Errorf("Retry-After %q, want whole seconds like %q", got, want)
	}
}
