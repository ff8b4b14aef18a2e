package taskq

// The production side of the Cloud Tasks fixtures in shared/conformance:
// Enqueue talks to a recording CloudTasks server (not the emulator), and its
// requests are checked against the documented forms.

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/run"
)

const testQueue = "projects/my-project/locations/us-central1/queues/dropcast-steps"

// recorder is a CloudTasks server that records CreateTask requests and
// answers each with err (nil: success).
type recorder struct {
	cloudtaskspb.UnimplementedCloudTasksServer
	mu   sync.Mutex
	reqs []*cloudtaskspb.CreateTaskRequest
	err  error
}

func (r *recorder) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, proto.Clone(req).(*cloudtaskspb.CreateTaskRequest))
	if r.err != nil {
		return nil, r.err
	}
	return req.GetTask(), nil
}

func (r *recorder) last(t *testing.T) *cloudtaskspb.CreateTaskRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no CreateTask request")
	}
	return r.reqs[len(r.reqs)-1]
}

// newRecorded returns a queue whose client talks to a fresh recorder.
func newRecorded(t *testing.T, cfg Config) (*Queue, *recorder) {
	t.Helper()
	rec := &recorder{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	cloudtaskspb.RegisterCloudTasksServer(srv, rec)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	client, err := cloudtasks.NewClient(t.Context(),
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if cfg.Queue == "" {
		cfg.Queue = testQueue
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://steps.example.com"
	}
	return New(client, cfg), rec
}

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

// extremeTasks are the longest and oddest tasks dropcast can build: a run ID
// from the longest pipeline name and object name, the largest epoch and
// segment, the longest step name Decode accepts.
func extremeTasks() []Task {
	long := run.ID(strings.Repeat("p", 40), run.Source{Bucket: "inbox", Object: "incoming/" + strings.Repeat("Ü x.", 80) + ".csv.gz", Generation: 1<<63 - 1})
	sched := run.ID("purchases", run.Source{Object: "schedule:morning@2026-04-26T06:00:00Z", Generation: 1777183200})
	return []Task{
		{RunID: long, Epoch: 1<<63 - 1, Step: strings.Repeat("z", 20), Segment: 1<<63 - 1},
		{RunID: sched, Epoch: 1, Step: "preprocess", Segment: 0},
	}
}

func TestConformanceTaskName(t *testing.T) {
	f := conformance.Load(t, "tasks-task-name")
	rule := keyValues(t, f.MustFile(t, "rule.txt"))
	maxLen, err := strconv.Atoi(rule["task_id_max_length"])
	if err != nil {
		t.Fatal(err)
	}
	prefix, ok := strings.CutSuffix(rule["format"], "TASK_ID")
	if !ok {
		t.Fatalf("format %q does not end in TASK_ID", rule["format"])
	}
	q, rec := newRecorded(t, Config{})
	for _, tk := range extremeTasks() {
		if !run.ValidID(tk.RunID) {
			t.Fatalf("test run ID %q is not valid", tk.RunID)
		}
		id := tk.Name()
		if len(id) == 0 || len(id) > maxLen || strings.Trim(id, rule["task_id_chars"]) != "" {
			t.Errorf("task ID %q (%d characters) breaks the documented rule", id, len(id))
		}
		if err := q.Enqueue(t.Context(), tk, time.Time{}); err != nil {
			t.Fatal(err)
		}
		req := rec.last(t)
		if got := req.GetTask().GetName(); got != req.GetParent()+"/tasks/"+id {
			t.Errorf("task name %q, want PARENT/tasks/%s", got, id)
		}
		// The parent fills the documented format's placeholders, one segment each.
		want, got := strings.Split(strings.TrimSuffix(prefix, "/"), "/"), strings.Split(req.GetParent()+"/tasks", "/")
		if len(got) != len(want) {
			t.Fatalf("parent %q does not have the shape of %q", req.GetParent(), prefix)
		}
		for i := range want {
			if want[i] == strings.ToUpper(want[i]) { // a placeholder
				if got[i] == "" {
					t.Errorf("parent %q: empty %s", req.GetParent(), want[i])
				}
			} else if got[i] != want[i] {
				t.Errorf("parent %q: segment %d is %q, want %q", req.GetParent(), i, got[i], want[i])
			}
		}
	}
}

func TestConformanceAlreadyExists(t *testing.T) {
	f := conformance.Load(t, "tasks-already-exists")
	if got := keyValues(t, f.MustFile(t, "status.txt"))["code"]; got != "ALREADY_EXISTS" {
		t.Fatalf("fixture code %q", got)
	}
	q, rec := newRecorded(t, Config{})
	tk := Task{RunID: "p-x-0123456789", Epoch: 1, Step: "load", Segment: 0}
	rec.err = status.Error(codes.AlreadyExists, "Requested entity already exists")
	if err := q.Enqueue(t.Context(), tk, time.Time{}); err != nil {
		t.Errorf("ALREADY_EXISTS: Enqueue = %v, want success (the task is this one)", err)
	}
	rec.err = status.Error(codes.Unavailable, "try again")
	err := q.Enqueue(t.Context(), tk, time.Time{})
	if err == nil || status.Code(err) != codes.Unavailable {
		t.Errorf("UNAVAILABLE: Enqueue = %v, want the error, wrapped", err)
	}
}

func TestConformanceDispatchDeadline(t *testing.T) {
	f := conformance.Load(t, "tasks-dispatch-deadline")
	b := keyValues(t, f.MustFile(t, "bounds.txt"))
	for _, d := range []time.Duration{fixtureDuration(t, b, "min"), fixtureDuration(t, b, "max"), 0} {
		q, rec := newRecorded(t, Config{DispatchDeadline: d})
		if err := q.Enqueue(t.Context(), Task{RunID: "p-x-0123456789", Epoch: 1, Step: "load"}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		got := rec.last(t).GetTask().GetDispatchDeadline()
		switch {
		case d == 0 && got != nil:
			t.Errorf("no configured deadline sent dispatch_deadline %v, want it unset (the %s default)", got.AsDuration(), b["default"])
		case d != 0 && (got == nil || got.AsDuration() != d):
			t.Errorf("configured deadline %v sent %v", d, got)
		}
	}
}

func TestConformanceScheduleTime(t *testing.T) {
	f := conformance.Load(t, "tasks-schedule-time")
	ahead := fixtureDuration(t, keyValues(t, f.MustFile(t, "limits.txt")), "max_ahead")
	q, rec := newRecorded(t, Config{})
	tk := Task{RunID: "p-x-0123456789", Epoch: 1, Step: "predict", Segment: 3}
	if err := q.Enqueue(t.Context(), tk, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if st := rec.last(t).GetTask().GetScheduleTime(); st != nil {
		t.Errorf("a task due now sent schedule_time %v, want it unset", st.AsTime())
	}
	due := time.Now().Add(ahead / 2).Truncate(time.Microsecond)
	if err := q.Enqueue(t.Context(), tk, due); err != nil {
		t.Fatal(err)
	}
	if st := rec.last(t).GetTask().GetScheduleTime(); st == nil || !st.AsTime().Equal(due) {
		t.Errorf("schedule_time %v, want %v", st, due)
	}
}

func TestConformanceTaskSize(t *testing.T) {
	f := conformance.Load(t, "tasks-task-size")
	limit, err := strconv.Atoi(keyValues(t, f.MustFile(t, "limits.txt"))["max_task_bytes"])
	if err != nil {
		t.Fatal(err)
	}
	q, rec := newRecorded(t, Config{Invoker: strings.Repeat("i", 100) + "@my-project.iam.gserviceaccount.com", DispatchDeadline: 30 * time.Minute})
	for _, tk := range extremeTasks() {
		if err := q.Enqueue(t.Context(), tk, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := proto.Size(rec.last(t).GetTask()); n > limit {
			t.Errorf("task %s is %d bytes, more than the documented %d", tk.Name(), n, limit)
		}
	}
	// The largest body a step accepts fits too.
	if MaxBody > limit {
		t.Errorf("MaxBody %d exceeds the task size limit %d", MaxBody, limit)
	}
}

func TestConformanceOIDCToken(t *testing.T) {
	f := conformance.Load(t, "tasks-oidc-token")
	var doc struct {
		HTTPRequest struct {
			URL       string `json:"url"`
			OIDCToken struct {
				ServiceAccountEmail string `json:"serviceAccountEmail"`
				Audience            string `json:"audience"`
			} `json:"oidcToken"`
		} `json:"httpRequest"`
	}
	if err := json.Unmarshal(f.MustFile(t, "task.json"), &doc); err != nil {
		t.Fatal(err)
	}
	base, step, _ := strings.Cut(strings.TrimPrefix(doc.HTTPRequest.URL, "https://"), "/")
	q, rec := newRecorded(t, Config{BaseURL: "https://" + base, Invoker: doc.HTTPRequest.OIDCToken.ServiceAccountEmail})
	if err := q.Enqueue(t.Context(), Task{RunID: "p-x-0123456789", Epoch: 1, Step: step}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	hr := rec.last(t).GetTask().GetHttpRequest()
	tok := hr.GetOidcToken()
	if hr.GetUrl() != doc.HTTPRequest.URL || tok.GetServiceAccountEmail() != doc.HTTPRequest.OIDCToken.ServiceAccountEmail || tok.GetAudience() != doc.HTTPRequest.OIDCToken.Audience {
		t.Errorf("http_request url %q oidc_token %v, want the documented %+v", hr.GetUrl(), tok, doc.HTTPRequest)
	}
	// No invoker: no token.
	q, rec = newRecorded(t, Config{})
	if err := q.Enqueue(t.Context(), Task{RunID: "p-x-0123456789", Epoch: 1, Step: step}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if hr := rec.last(t).GetTask().GetHttpRequest(); hr.GetAuthorizationHeader() != nil {
		t.Errorf("no invoker, yet authorization %v", hr.GetAuthorizationHeader())
	}
}

func TestConformanceContentType(t *testing.T) {
	conformance.Load(t, "tasks-content-type") // Cloud Tasks sets no Content-Type: the task must.
	q, rec := newRecorded(t, Config{})
	tk := Task{RunID: "p-x-0123456789", Epoch: 2, Step: "export", Segment: 1}
	if err := q.Enqueue(t.Context(), tk, time.Time{}); err != nil {
		t.Fatal(err)
	}
	hr := rec.last(t).GetTask().GetHttpRequest()
	var ct string
	for k, v := range hr.GetHeaders() {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
		}
	}
	if ct != "application/json" || !json.Valid(hr.GetBody()) {
		t.Errorf("Content-Type %q with body %q, want application/json set by the task", ct, hr.GetBody())
	}
	if back, err := Decode(hr.GetBody()); err != nil || back != tk {
		t.Errorf("body decodes to %+v, %v", back, err)
	}
}
