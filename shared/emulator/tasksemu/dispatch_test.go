package tasksemu

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestDispatchHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "hdr-queue", nil, nil)
	eta := time.Now().Add(50 * time.Millisecond)
	tk := httpTask(tg.url(), q+"/tasks/hdr-task", []byte(`{"a":1}`))
	tk.ScheduleTime = timestamppb.New(eta)
	hr := tk.GetHttpRequest()
	hr.HttpMethod = cloudtaskspb.HttpMethod_PUT
	hr.Headers = map[string]string{"Content-Type": "application/json", "X-Custom": "v1"}
	hr.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{
		ServiceAccountEmail: "runner@test-project.iam.gserviceaccount.com"}}
	e.createTask(t, q, tk)

	get := httpTask(tg.url()+"?x=1", q+"/tasks/get-task", nil)
	get.GetHttpRequest().HttpMethod = cloudtaskspb.HttpMethod_GET
	e.createTask(t, q, get)
	e.waitIdle(t)

	ds := tg.snapshot()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	byName := map[string]delivery{}
	for _, d := range ds {
		byName[d.header.Get("X-CloudTasks-TaskName")] = d
	}
	d, found := byName["hdr-task"]
	if !found {
		t.Fatalf("no delivery for hdr-task: %v", byName)
	}
	if d.method != http.MethodPut || string(d.body) != `{"a":1}` {
		t.Errorf("method %s body %q", d.method, d.body)
	}
	want := map[string]string{
		"X-CloudTasks-QueueName":          "hdr-queue",
		"X-CloudTasks-TaskRetryCount":     "0",
		"X-CloudTasks-TaskExecutionCount": "0",
		"Content-Type":                    "application/json",
		"X-Custom":                        "v1",
		"User-Agent":                      "Google-Cloud-Tasks",
	}
	for k, v := range want {
		if got := d.header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if got := d.header.Get("X-CloudTasks-TaskPreviousResponse"); got != "" {
		t.Errorf("first attempt has TaskPreviousResponse %q", got)
	}
	etaHdr, err := strconv.ParseFloat(d.header.Get("X-CloudTasks-TaskETA"), 64)
	if err != nil || math.Abs(etaHdr-float64(eta.UnixNano())/1e9) > 0.001 {
		t.Errorf("TaskETA = %q (%v), want %.6f", d.header.Get("X-CloudTasks-TaskETA"), err, float64(eta.UnixNano())/1e9)
	}
	if d.at.Before(eta) {
		t.Errorf("delivered at %v, before ETA %v", d.at, eta)
	}
	auth := d.header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") || !strings.Contains(auth, "runner@test-project.iam.gserviceaccount.com") {
		t.Errorf("Authorization = %q", auth)
	}

	g := byName["get-task"]
	if g.method != http.MethodGet || len(g.body) != 0 || g.header.Get("Authorization") != "" {
		t.Errorf("GET task: method %s body %q auth %q", g.method, g.body, g.header.Get("Authorization"))
	}
	if st := e.srv.Stats(); st.Succeeded != 2 || st.Dispatches != 2 || st.StatusCodes[200] != 2 || st.Created != 2 {
		t.Errorf("stats = %+v", st)
	}
}

func TestScheduleTimeDelaysDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "later", nil, nil)
	now := time.Now()
	late := httpTask(tg.url(), q+"/tasks/late", nil)
	late.ScheduleTime = timestamppb.New(now.Add(400 * time.Millisecond))
	early := httpTask(tg.url(), q+"/tasks/early", nil)
	early.ScheduleTime = timestamppb.New(now.Add(100 * time.Millisecond))
	e.createTask(t, q, late)
	e.createTask(t, q, early)
	if n := e.srv.Pending(q); n != 2 {
		t.Errorf("Pending = %d, want 2", n)
	}
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != 2 {
		t.Fatalf("got %d deliveries, want 2", len(ds))
	}
	if ds[0].header.Get("X-CloudTasks-TaskName") != "early" || ds[1].header.Get("X-CloudTasks-TaskName") != "late" {
		t.Errorf("order: %s, %s", ds[0].header.Get("X-CloudTasks-TaskName"), ds[1].header.Get("X-CloudTasks-TaskName"))
	}
	if ds[0].at.Before(now.Add(100*time.Millisecond)) || ds[1].at.Before(now.Add(400*time.Millisecond)) {
		t.Errorf("delivered early: %v, %v after create", ds[0].at.Sub(now), ds[1].at.Sub(now))
	}
}

func TestMaxConcurrentDispatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	q := e.createQueue(t, "narrow", &cloudtaskspb.RateLimits{MaxConcurrentDispatches: 3}, nil)
	e.pause(t, q)
	for range 20 {
		e.createTask(t, q, httpTask(tg.url(), "", nil))
	}
	e.resume(t, q)
	e.waitIdle(t)
	if n := len(tg.snapshot()); n != 20 {
		t.Fatalf("got %d deliveries, want 20", n)
	}
	if got := tg.maxConcurrent(); got > 3 || got < 1 {
		t.Errorf("handler saw %d concurrent requests, limit 3", got)
	}
	if got := e.srv.Stats().MaxConcurrent[q]; got != 3 {
		t.Errorf("Stats.MaxConcurrent = %d, want 3", got)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "slow", &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 10}, nil)
	e.pause(t, q)
	for range 15 {
		e.createTask(t, q, httpTask(tg.url(), "", nil))
	}
	start := time.Now()
	e.resume(t, q)
	e.waitIdle(t)
	ds := tg.snapshot()
	if len(ds) != 15 {
		t.Fatalf("got %d deliveries, want 15", len(ds))
	}
	// A burst of 10, then one every 100ms: the 15th no earlier than ~500ms.
	if el := ds[14].at.Sub(start); el < 450*time.Millisecond {
		t.Errorf("15 tasks at 10/s took %v", el)
	}
	if el := ds[9].at.Sub(start); el > 400*time.Millisecond {
		t.Errorf("burst of 10 took %v", el)
	}
}

func TestRunTaskListGetDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "manual", nil, nil)
	e.pause(t, q)
	for _, id := range []string{"a", "b", "c"} {
		e.createTask(t, q, httpTask(tg.url(), q+"/tasks/"+id, []byte("body-"+id)))
	}
	resp, err := e.client.ListTasks(e.ctx, &cloudtaskspb.ListTasksRequest{Parent: q, PageSize: 2}).Next()
	if err != nil || resp.GetName() != q+"/tasks/a" {
		t.Fatalf("ListTasks first = %v, %v", resp.GetName(), err)
	}
	var names []string
	it := e.client.ListTasks(e.ctx, &cloudtaskspb.ListTasksRequest{Parent: q, PageSize: 2})
	for {
		tk, err := it.Next()
		if err != nil {
			break
		}
		names = append(names, taskID(tk.GetName()))
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("ListTasks = %v", names)
	}

	full, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: q + "/tasks/b", ResponseView: cloudtaskspb.Task_FULL})
	if err != nil || string(full.GetHttpRequest().GetBody()) != "body-b" || full.GetView() != cloudtaskspb.Task_FULL {
		t.Errorf("GetTask FULL = %v, %v", full, err)
	}
	basic, err := e.client.GetTask(e.ctx, &cloudtaskspb.GetTaskRequest{Name: q + "/tasks/b"})
	if err != nil || len(basic.GetHttpRequest().GetBody()) != 0 || basic.GetView() != cloudtaskspb.Task_BASIC {
		t.Errorf("GetTask BASIC = %v, %v", basic, err)
	}

	if err := e.client.DeleteTask(e.ctx, &cloudtaskspb.DeleteTaskRequest{Name: q + "/tasks/c"}); err != nil {
		t.Fatalf("DeleteTask: %v", err)
	}
	run, err := e.client.RunTask(e.ctx, &cloudtaskspb.RunTaskRequest{Name: q + "/tasks/a"})
	if err != nil || run.GetDispatchCount() != 1 {
		t.Fatalf("RunTask = %v, %v", run, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Pending(q) != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if tg.countFor("a") != 1 || tg.countFor("b") != 0 || tg.countFor("c") != 0 {
		t.Errorf("deliveries a=%d b=%d c=%d, want 1 0 0", tg.countFor("a"), tg.countFor("b"), tg.countFor("c"))
	}
	e.resume(t, q)
	e.waitIdle(t)
	if tg.countFor("b") != 1 || tg.countFor("c") != 0 {
		t.Errorf("after resume b=%d c=%d", tg.countFor("b"), tg.countFor("c"))
	}
}

func TestConcurrentCreatesAllDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tg := newTarget(t, ok)
	q := e.createQueue(t, "many", nil, nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				name := q + "/tasks/w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if _, err := e.client.CreateTask(e.ctx, &cloudtaskspb.CreateTaskRequest{Parent: q, Task: httpTask(tg.url(), name, nil)}); err != nil {
					t.Errorf("CreateTask: %v", err)
				}
			}
		})
	}
	wg.Wait()
	e.waitIdle(t)
	if n := len(tg.snapshot()); n != 100 {
		t.Errorf("got %d deliveries, want 100", n)
	}
}
