package tasksemu

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
)

func TestWaitIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "idle", nil, nil)
	if err := e.srv.WaitIdle(e.ctx); err != nil {
		t.Fatalf("WaitIdle on an empty server: %v", err)
	}
	e.pause(t, q)
	e.createTask(t, q, httpTask(tg.url(), "", nil))
	short, cancel := context.WithTimeout(e.ctx, 100*time.Millisecond)
	defer cancel()
	if err := e.srv.WaitIdle(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIdle with a paused task = %v, want deadline", err)
	}
	e.resume(t, q)
	e.waitIdle(t)
	if n := len(tg.snapshot()); n != 1 {
		t.Errorf("got %d deliveries, want 1", n)
	}
}

// TestCloseStopsEverything is not parallel: it inspects all goroutines.
func TestCloseStopsEverything(t *testing.T) {
	srv, err := Start(Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	client, err := newClient(ctx, srv.Addr())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	q := testLocation + "/queues/closing"
	if _, err := client.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation,
		Queue: &cloudtaskspb.Queue{Name: q}}); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	if _, err := client.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), "", nil)}); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	future := httpTask(tg.url(), "", nil)
	future.ScheduleTime = timeIn(time.Hour)
	if _, err := client.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: future}); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	<-started // one dispatch is in flight, one task waits an hour

	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a dispatch in flight")
	}
	if err := srv.WaitIdle(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitIdle after Close = %v, want ErrClosed", err)
	}
	// The client retries Unavailable until its deadline: keep it short.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if _, err := client.GetQueue(short, &cloudtaskspb.GetQueueRequest{Name: q}); err == nil {
		t.Error("GetQueue succeeded after Close")
	}
	client.Close()

	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := emulatorGoroutines()
		if len(leaked) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// emulatorGoroutines returns the stacks of goroutines running emulator or
// gRPC server code.
func emulatorGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "tasksemu.(*Server)") || strings.Contains(g, "tasksemu.(*service)") ||
			strings.Contains(g, "grpc.(*Server)") {
			out = append(out, g)
		}
	}
	return out
}
