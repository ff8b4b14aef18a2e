package tasksemu

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const testLocation = "projects/test-project/locations/us-central1"

// env is a running emulator with a real client.
type env struct {
	srv    *Server
	client *cloudtasks.Client
	ctx    context.Context
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	t.Cleanup(cancel)
	client, err := newClient(ctx, srv.Addr())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return &env{srv: srv, client: client, ctx: ctx}
}

func newClient(ctx context.Context, addr string) (*cloudtasks.Client, error) {
	return cloudtasks.NewClient(ctx,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// createQueue creates a queue and returns its full name.
func (e *env) createQueue(t *testing.T, id string, rl *cloudtaskspb.RateLimits, rc *cloudtaskspb.RetryConfig) string {
	t.Helper()
	name := testLocation + "/queues/" + id
	_, err := e.client.CreateQueue(e.ctx, &cloudtaskspb.CreateQueueRequest{
		Parent: testLocation,
		Queue:  &cloudtaskspb.Queue{Name: name, RateLimits: rl, RetryConfig: rc},
	})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", id, err)
	}
	return name
}

func (e *env) createTask(t *testing.T, queue string, task *cloudtaskspb.Task) *cloudtaskspb.Task {
	t.Helper()
	got, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: queue, Task: task})
	if err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	return got
}

func (e *env) waitIdle(t *testing.T) {
	t.Helper()
	if err := e.srv.WaitIdle(e.ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

func (e *env) pause(t *testing.T, queue string) {
	t.Helper()
	if _, err := e.client.PauseQueue(e.ctx, &cloudtaskspb.PauseQueueRequest{Name: queue}); err != nil {
		t.Fatalf("PauseQueue: %v", err)
	}
}

func (e *env) resume(t *testing.T, queue string) {
	t.Helper()
	if _, err := e.client.ResumeQueue(e.ctx, &cloudtaskspb.ResumeQueueRequest{Name: queue}); err != nil {
		t.Fatalf("ResumeQueue: %v", err)
	}
}

func httpTask(url, name string, body []byte) *cloudtaskspb.Task {
	return &cloudtaskspb.Task{
		Name: name,
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: &cloudtaskspb.HttpRequest{
			Url:  url,
			Body: body,
		}},
	}
}

func fastRetry(maxAttempts int32) *cloudtaskspb.RetryConfig {
	return &cloudtaskspb.RetryConfig{
		MaxAttempts:  maxAttempts,
		MinBackoff:   durationpb.New(10 * time.Millisecond),
		MaxBackoff:   durationpb.New(100 * time.Millisecond),
		MaxDoublings: 3,
	}
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got code %s (err %v), want %s", got, err, want)
	}
}

// delivery is one request the target received.
type delivery struct {
	at     time.Time
	method string
	header http.Header
	body   []byte
}

// target is an httptest server that records deliveries and answers with
// respond(w, r, n), n being the 0-based delivery number for the task.
type target struct {
	srv *httptest.Server

	mu          sync.Mutex
	deliveries  []delivery
	perTask     map[string]int
	inflight    int
	maxInflight int
}

func newTarget(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *target {
	t.Helper()
	tg := &target{perTask: map[string]int{}}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name := r.Header.Get("X-CloudTasks-TaskName")
		tg.mu.Lock()
		n := tg.perTask[name]
		tg.perTask[name]++
		tg.deliveries = append(tg.deliveries, delivery{at: time.Now(), method: r.Method, header: r.Header.Clone(), body: body})
		tg.inflight++
		tg.maxInflight = max(tg.maxInflight, tg.inflight)
		tg.mu.Unlock()
		defer func() {
			tg.mu.Lock()
			tg.inflight--
			tg.mu.Unlock()
		}()
		if respond != nil {
			respond(w, r, n)
		}
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) url() string { return tg.srv.URL + "/work" }

func (tg *target) snapshot() []delivery {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]delivery(nil), tg.deliveries...)
}

func (tg *target) countFor(taskID string) int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.perTask[taskID]
}

func (tg *target) maxConcurrent() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.maxInflight
}

func ok(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusOK) }

func statusCode(err error) codes.Code { return status.Code(err) }

func timeIn(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(time.Now().Add(d)) }
