package tasksemu

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestNamedTaskDedup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{TombstoneTTL: 300 * time.Millisecond})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "dedup", nil, nil)
	e.pause(t, q)
	name := q + "/tasks/job-1"
	e.createTask(t, q, httpTask(tg.url(), name, nil))

	_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), name, nil)})
	wantCode(t, err, codes.AlreadyExists) // exists

	e.resume(t, q)
	e.waitIdle(t)
	ranAt := time.Now()
	_, err = e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), name, nil)})
	wantCode(t, err, codes.AlreadyExists) // ran: tombstoned

	deleted := q + "/tasks/job-2"
	e.pause(t, q)
	e.createTask(t, q, httpTask(tg.url(), deleted, nil))
	if err := e.client.DeleteTask(e.ctx, &cloudtaskspb.DeleteTaskRequest{Name: deleted}); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	_, err = e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), deleted, nil)})
	wantCode(t, err, codes.AlreadyExists) // deleted: tombstoned
	e.resume(t, q)

	if got := tg.countFor("job-1"); got != 1 {
		t.Errorf("job-1 delivered %d times, want 1", got)
	}
	if got := e.srv.Stats().AlreadyExists; got != 3 {
		t.Errorf("Stats.AlreadyExists = %d, want 3", got)
	}

	// After the TTL the name is free again.
	time.Sleep(time.Until(ranAt.Add(350 * time.Millisecond)))
	e.createTask(t, q, httpTask(tg.url(), name, nil))
	e.waitIdle(t)
	if got := tg.countFor("job-1"); got != 2 {
		t.Errorf("job-1 delivered %d times after reuse, want 2", got)
	}
}

func TestCreateTaskValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	q := e.createQueue(t, "validate", nil, nil)
	e.pause(t, q)
	const url = "http://127.0.0.1:1/x"
	withTask := func(f func(*cloudtaskspb.Task)) *cloudtaskspb.Task {
		tk := httpTask(url, "", nil)
		f(tk)
		return tk
	}
	cases := []struct {
		name   string
		parent string
		task   *cloudtaskspb.Task
		want   codes.Code
	}{
		{"bad ID chars", q, httpTask(url, q+"/tasks/a.b", nil), codes.InvalidArgument},
		{"ID too long", q, httpTask(url, q+"/tasks/"+strings.Repeat("a", 501), nil), codes.InvalidArgument},
		{"other queue", q, httpTask(url, testLocation+"/queues/other/tasks/x", nil), codes.InvalidArgument},
		{"malformed name", q, httpTask(url, "tasks/x", nil), codes.InvalidArgument},
		{"task over 100KB", q, httpTask(url, "", make([]byte, 100_000)), codes.InvalidArgument},
		{"schedule over 30 days", q, withTask(func(tk *cloudtaskspb.Task) {
			tk.ScheduleTime = timestamppb.New(time.Now().Add(31 * 24 * time.Hour))
		}), codes.InvalidArgument},
		{"deadline under 15s", q, withTask(func(tk *cloudtaskspb.Task) { tk.DispatchDeadline = durationpb.New(5 * time.Second) }), codes.InvalidArgument},
		{"deadline over 30m", q, withTask(func(tk *cloudtaskspb.Task) { tk.DispatchDeadline = durationpb.New(31 * time.Minute) }), codes.InvalidArgument},
		{"GET with body", q, withTask(func(tk *cloudtaskspb.Task) {
			tk.GetHttpRequest().HttpMethod = cloudtaskspb.HttpMethod_GET
			tk.GetHttpRequest().Body = []byte("x")
		}), codes.InvalidArgument},
		{"relative URL", q, httpTask("/x", "", nil), codes.InvalidArgument},
		{"no request", q, &cloudtaskspb.Task{}, codes.InvalidArgument},
		{"app engine", q, &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_AppEngineHttpRequest{
			AppEngineHttpRequest: &cloudtaskspb.AppEngineHttpRequest{RelativeUri: "/x"}}}, codes.Unimplemented},
		{"missing queue", testLocation + "/queues/nope", httpTask(url, "", nil), codes.NotFound},
		{"99KB body", q, httpTask(url, "", make([]byte, 99_000)), codes.OK},
		{"max ID length", q, httpTask(url, q+"/tasks/"+strings.Repeat("a_-", 166)+"ab", nil), codes.OK},
		{"29 days ahead, 15s deadline", q, withTask(func(tk *cloudtaskspb.Task) {
			tk.ScheduleTime = timestamppb.New(time.Now().Add(29 * 24 * time.Hour))
			tk.DispatchDeadline = durationpb.New(15 * time.Second)
		}), codes.OK},
	}
	for _, c := range cases {
		_, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: c.parent, Task: c.task})
		if got := statusCode(err); got != c.want {
			t.Errorf("%s: code %s (%v), want %s", c.name, got, err, c.want)
		}
	}
	if n := e.srv.Pending(q); n != 3 {
		t.Errorf("Pending = %d, want the 3 valid tasks", n)
	}
}

func TestUnnamedTasksGetDistinctIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	q := e.createQueue(t, "unnamed", nil, nil)
	e.pause(t, q)
	seen := map[string]bool{}
	for range 20 {
		tk := e.createTask(t, q, httpTask("http://127.0.0.1:1/", "", nil))
		ref, id, err := parseTaskName(tk.GetName())
		if err != nil || ref.name() != q {
			t.Fatalf("generated name %q: %v", tk.GetName(), err)
		}
		if seen[id] {
			t.Fatalf("duplicate generated ID %s", id)
		}
		seen[id] = true
	}
}
