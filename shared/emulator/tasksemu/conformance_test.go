package tasksemu

// The emulator side of the Cloud Tasks fixtures in shared/conformance: each
// test drives the emulator through the real client and checks it produces,
// accepts or refuses exactly the documented form.

import (
	"bufio"
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dropcast/dropcast/shared/conformance"
)

// keyValues reads a fixture file of "key: value" lines.
func keyValues(t *testing.T, data []byte) map[string]string {
	t.Helper()
	m := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("fixture line %q is not key: value", line)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

func fixtureDuration(t *testing.T, kv map[string]string, key string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(kv[key])
	if err != nil {
		t.Fatalf("fixture %s: %v", key, err)
	}
	return d
}

func fixtureInt(t *testing.T, kv map[string]string, key string) int {
	t.Helper()
	n, err := strconv.Atoi(kv[key])
	if err != nil {
		t.Fatalf("fixture %s: %v", key, err)
	}
	return n
}

// fixtureHeaders reads the header block of an HTTP message in a fixture.
func fixtureHeaders(t *testing.T, data []byte) http.Header {
	t.Helper()
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue // a request or status line
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return h
}

func TestConformanceTaskName(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-task-name")
	rule := keyValues(t, f.MustFile(t, "rule.txt"))
	chars, maxLen := rule["task_id_chars"], fixtureInt(t, rule, "task_id_max_length")
	e := newEnv(t, Options{})
	q := e.createQueue(t, "names", nil, nil)
	e.pause(t, q)
	const url = "http://127.0.0.1:1/x"

	longest := strings.Repeat(chars, maxLen/len(chars)+1)[:maxLen]
	for _, id := range []string{chars, longest, "a", "_", "-"} {
		got := e.createTask(t, q, httpTask(url, q+"/tasks/"+id, nil))
		if got.GetName() != q+"/tasks/"+id {
			t.Errorf("created %q, want %q", got.GetName(), q+"/tasks/"+id)
		}
	}
	invalid := []string{longest + "a", ""}
	for line := range strings.Lines(string(f.MustFile(t, "invalid-ids.txt"))) {
		invalid = append(invalid, strings.TrimRight(line, "\n"))
	}
	for _, id := range invalid {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(url, q+"/tasks/"+id, nil)})
		if statusCode(err) != codes.InvalidArgument {
			t.Errorf("task ID %q: %v, want InvalidArgument", truncate(id, 20), err)
		}
	}
	// The format: the name must sit under the queue it is created in.
	for _, name := range []string{"tasks/x", q + "/x", testLocation + "/queues/other/tasks/x"} {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(url, name, nil)})
		if statusCode(err) != codes.InvalidArgument {
			t.Errorf("name %q: %v, want InvalidArgument", name, err)
		}
	}
}

func TestConformanceAlreadyExists(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-already-exists")
	st := keyValues(t, f.MustFile(t, "status.txt"))
	if st["code"] != codes.AlreadyExists.String() && st["code"] != "ALREADY_EXISTS" {
		t.Fatalf("fixture code %q", st["code"])
	}
	// The default window is the documented maximum.
	if got, want := (Options{}).withDefaults().TombstoneTTL, fixtureDuration(t, st, "window"); got != want {
		t.Errorf("default TombstoneTTL %v, want the documented %v", got, want)
	}
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "dup", nil, nil)
	e.pause(t, q)
	exists, ran, deleted := q+"/tasks/exists", q+"/tasks/ran", q+"/tasks/deleted"
	e.createTask(t, q, httpTask(tg.url(), exists, nil))
	e.createTask(t, q, httpTask(tg.url(), deleted, nil))
	if err := e.client.DeleteTask(e.ctx, &cloudtaskspb.DeleteTaskRequest{Name: deleted}); err != nil {
		t.Fatal(err)
	}
	e.resume(t, q)
	e.createTask(t, q, httpTask(tg.url(), ran, nil))
	e.waitIdle(t)
	for _, name := range []string{exists, ran, deleted} {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), name, nil)})
		wantCode(t, err, codes.AlreadyExists)
	}
}

func TestConformanceDispatchHeaders(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-dispatch-headers")
	want := fixtureHeaders(t, f.MustFile(t, "request.txt"))
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	q := e.createQueue(t, "dropcast-steps", nil, fastRetry(5))
	id := want.Get("X-CloudTasks-TaskName")
	tk := httpTask(tg.url(), q+"/tasks/"+id, []byte(`{}`))
	tk.GetHttpRequest().Headers = map[string]string{"Content-Type": want.Get("Content-Type")}
	eta := time.Now().Add(20 * time.Millisecond)
	tk.ScheduleTime = timestamppb.New(eta)
	e.createTask(t, q, tk)
	e.waitIdle(t)

	ds := tg.snapshot()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	second := ds[1].header
	// Every header of the documented second attempt, with its value, except
	// the ETA (checked below) and Host.
	for k := range want {
		if k == "X-Cloudtasks-Tasketa" || k == "Host" {
			continue
		}
		if got := second.Get(k); got != want.Get(k) {
			t.Errorf("%s = %q, want %q", k, got, want.Get(k))
		}
	}
	if got := ds[0].header.Get("X-CloudTasks-TaskPreviousResponse"); got != "" {
		t.Errorf("first attempt carries TaskPreviousResponse %q", got)
	}
	for i, d := range ds {
		secs, err := strconv.ParseFloat(d.header.Get("X-CloudTasks-TaskETA"), 64)
		if err != nil {
			t.Fatalf("attempt %d: TaskETA %q is not seconds since the epoch: %v", i, d.header.Get("X-CloudTasks-TaskETA"), err)
		}
		at := time.Unix(0, int64(secs*1e9))
		if i == 0 && math.Abs(at.Sub(eta).Seconds()) > 0.001 {
			t.Errorf("first TaskETA %v, want the schedule time %v", at, eta)
		}
		if d.at.Before(at.Add(-time.Millisecond)) {
			t.Errorf("attempt %d delivered at %v, before its ETA %v", i, d.at, at)
		}
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

func TestConformanceRetryAndExecutionCount(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-retry-execution-count")
	lines := attemptLines(t, f.MustFile(t, "attempts.txt"))
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.WriteHeader(lines[min(n, len(lines)-1)].answer)
	})
	q := e.createQueue(t, "counts", nil, fastRetry(int32(len(lines)+1)))
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/counted", nil))
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != len(lines) {
		t.Fatalf("got %d deliveries, want %d", len(ds), len(lines))
	}
	for i, l := range lines {
		h := ds[i].header
		if got := h.Get("X-CloudTasks-TaskRetryCount"); got != strconv.Itoa(l.retry) {
			t.Errorf("attempt %d: TaskRetryCount %q, want %d", i+1, got, l.retry)
		}
		if got := h.Get("X-CloudTasks-TaskExecutionCount"); got != strconv.Itoa(l.exec) {
			t.Errorf("attempt %d: TaskExecutionCount %q, want %d", i+1, got, l.exec)
		}
	}
}

func TestConformanceMaxAttempts(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-max-attempts")
	rc := keyValues(t, f.MustFile(t, "retry-config.txt"))
	maxAttempts, last := fixtureInt(t, rc, "max_attempts"), fixtureInt(t, rc, "last_retry_count")
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusInternalServerError) })
	cfg := fastRetry(int32(maxAttempts))
	cfg.MaxRetryDuration = durationpb.New(fixtureDuration(t, rc, "max_retry_duration"))
	q := e.createQueue(t, "attempts", nil, cfg)
	name := q + "/tasks/doomed"
	e.createTask(t, q, httpTask(tg.url(), name, nil))
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != maxAttempts {
		t.Fatalf("got %d attempts, want max_attempts %d", len(ds), maxAttempts)
	}
	if got := ds[len(ds)-1].header.Get("X-CloudTasks-TaskRetryCount"); got != strconv.Itoa(last) {
		t.Errorf("last attempt's TaskRetryCount %q, want %d", got, last)
	}
	_, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: name})
	wantCode(t, err, codes.NotFound)
}

func TestConformanceSuccessCodes(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-success-codes")
	kv := keyValues(t, f.MustFile(t, "codes.txt"))
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			code = http.StatusOK // a retry succeeds
		}
		w.WriteHeader(code)
	})
	q := e.createQueue(t, "codes", nil, fastRetry(2))
	want := map[string]int{}
	for key, deliveries := range map[string]int{"success": 1, "retried": 2} {
		for _, c := range strings.Fields(kv[key]) {
			id := "code-" + c
			want[id] = deliveries
			e.createTask(t, q, httpTask(tg.srv.URL+"/"+c, q+"/tasks/"+id, nil))
		}
	}
	e.waitIdle(t)
	for id, n := range want {
		if got := tg.countFor(id); got != n {
			t.Errorf("%s delivered %d times, want %d", id, got, n)
		}
	}
}

func TestConformanceRetryAfter(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-retry-after")
	resp := f.MustFile(t, "response.txt")
	status, _, _ := bytes.Cut(resp, []byte("\n"))
	code, err := strconv.Atoi(strings.Fields(string(status))[1])
	if err != nil {
		t.Fatal(err)
	}
	h := fixtureHeaders(t, resp)
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Duration(secs) * time.Second
	answer := func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", h.Get("Retry-After"))
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	e := newEnv(t, Options{})
	// A short backoff: the retry waits for Retry-After.
	short := newTarget(t, answer)
	q1 := e.createQueue(t, "retry-after-short", nil, fastRetry(5))
	e.createTask(t, q1, httpTask(short.url(), q1+"/tasks/t", nil))
	// A backoff longer than Retry-After: the higher of the two wins.
	long := newTarget(t, answer)
	backoff := after + 500*time.Millisecond
	q2 := e.createQueue(t, "retry-after-long", nil, &cloudtaskspb.RetryConfig{
		MaxAttempts: 5, MinBackoff: durationpb.New(backoff), MaxBackoff: durationpb.New(2 * backoff), MaxDoublings: 1})
	e.createTask(t, q2, httpTask(long.url(), q2+"/tasks/t", nil))
	e.waitIdle(t)
	for _, c := range []struct {
		tg   *target
		wait time.Duration
	}{{short, after}, {long, backoff}} {
		ds := c.tg.snapshot()
		if len(ds) != 2 {
			t.Fatalf("got %d deliveries, want 2", len(ds))
		}
		if gap := ds[1].at.Sub(ds[0].at); gap < c.wait-50*time.Millisecond {
			t.Errorf("retry after %v, want at least %v", gap, c.wait)
		}
	}
}

func TestConformanceDispatchDeadline(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-dispatch-deadline")
	b := keyValues(t, f.MustFile(t, "bounds.txt"))
	lo, hi := fixtureDuration(t, b, "min"), fixtureDuration(t, b, "max")
	if got := fixtureDuration(t, b, "default"); got != defaultDispatchDeadline {
		t.Errorf("default dispatch deadline %v, want %v", defaultDispatchDeadline, got)
	}
	e := newEnv(t, Options{})
	q := e.createQueue(t, "deadlines", nil, nil)
	e.pause(t, q)
	for d, want := range map[time.Duration]codes.Code{
		lo: codes.OK, hi: codes.OK, lo - time.Millisecond: codes.InvalidArgument, hi + time.Millisecond: codes.InvalidArgument,
	} {
		tk := httpTask("http://127.0.0.1:1/x", "", nil)
		tk.DispatchDeadline = durationpb.New(d)
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: tk})
		if got := statusCode(err); got != want {
			t.Errorf("dispatch_deadline %v: %s (%v), want %s", d, got, err, want)
		}
	}
}

func TestConformanceScheduleTime(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-schedule-time")
	ahead := fixtureDuration(t, keyValues(t, f.MustFile(t, "limits.txt")), "max_ahead")
	e := newEnv(t, Options{})
	q := e.createQueue(t, "schedule", nil, nil)
	e.pause(t, q)
	for d, want := range map[time.Duration]codes.Code{
		ahead - time.Minute: codes.OK, ahead + time.Minute: codes.InvalidArgument,
	} {
		tk := httpTask("http://127.0.0.1:1/x", "", nil)
		tk.ScheduleTime = timeIn(d)
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: tk})
		if got := statusCode(err); got != want {
			t.Errorf("schedule_time now+%v: %s (%v), want %s", d, got, err, want)
		}
	}
	// Unset or in the past, it becomes the current time.
	before := time.Now()
	past := httpTask("http://127.0.0.1:1/x", "", nil)
	past.ScheduleTime = timeIn(-time.Hour)
	for _, tk := range []*cloudtaskspb.Task{past, httpTask("http://127.0.0.1:1/x", "", nil)} {
		got := e.createTask(t, q, tk).GetScheduleTime().AsTime()
		if got.Before(before.Truncate(time.Microsecond)) || got.After(time.Now()) {
			t.Errorf("schedule_time %v, want the creation time (about %v)", got, before)
		}
	}
}

func TestConformanceTaskSize(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-task-size")
	limit := fixtureInt(t, keyValues(t, f.MustFile(t, "limits.txt")), "max_task_bytes")
	e := newEnv(t, Options{})
	q := e.createQueue(t, "sizes", nil, nil)
	e.pause(t, q)
	for body, want := range map[int]codes.Code{limit - 1000: codes.OK, limit: codes.InvalidArgument, 1 << 20: codes.InvalidArgument} {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask("http://127.0.0.1:1/x", "", make([]byte, body))})
		if got := statusCode(err); got != want {
			t.Errorf("%d-byte body: %s (%v), want %s", body, got, err, want)
		}
	}
}

func TestConformanceOIDCToken(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-oidc-token")
	scheme, _, _ := strings.Cut(fixtureHeaders(t, f.MustFile(t, "header.txt")).Get("Authorization"), " ")
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "oidc", nil, nil)
	const sa = "invoker@my-project.iam.gserviceaccount.com"
	withAud := httpTask(tg.url(), q+"/tasks/aud", nil)
	withAud.GetHttpRequest().AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: sa, Audience: "https://aud.example.com"}}
	noAud := httpTask(tg.url(), q+"/tasks/noaud", nil)
	noAud.GetHttpRequest().AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: sa}}
	e.createTask(t, q, withAud)
	e.createTask(t, q, noAud)
	e.waitIdle(t)
	for _, d := range tg.snapshot() {
		auth := d.header.Get("Authorization")
		aud := "https://aud.example.com"
		if d.header.Get("X-CloudTasks-TaskName") == "noaud" {
			aud = tg.url() // the task's URL
		}
		s, tok, _ := strings.Cut(auth, " ")
		if s != scheme || !strings.Contains(tok, sa) || !strings.HasSuffix(tok, ":"+aud) {
			t.Errorf("Authorization %q, want %s with a token for %s and audience %s", auth, scheme, sa, aud)
		}
	}
}

func TestConformanceContentType(t *testing.T) {
	t.Parallel()
	f := conformance.Load(t, "tasks-content-type")
	want := fixtureHeaders(t, f.MustFile(t, "headers.txt"))
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "ctype", nil, nil)
	e.createTask(t, q, httpTask(tg.url(), q+"/tasks/bare", []byte("raw body")))
	set := httpTask(tg.url(), q+"/tasks/typed", []byte(`{}`))
	set.GetHttpRequest().Headers = map[string]string{"Content-Type": "application/json", "User-Agent": "mine"}
	e.createTask(t, q, set)
	e.waitIdle(t)
	for _, d := range tg.snapshot() {
		wantType := ""
		if d.header.Get("X-CloudTasks-TaskName") == "typed" {
			wantType = "application/json"
		}
		if got := d.header.Get("Content-Type"); got != wantType {
			t.Errorf("%s: Content-Type %q, want %q", d.header.Get("X-CloudTasks-TaskName"), got, wantType)
		}
		if got := d.header.Get("User-Agent"); got != want.Get("User-Agent") {
			t.Errorf("User-Agent %q, want %q", got, want.Get("User-Agent"))
		}
	}
}
