package tasksemu

import (
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	rl := &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 20, MaxConcurrentDispatches: 7}
	rc := &cloudtaskspb.RetryConfig{
		MaxAttempts:      5,
		MaxRetryDuration: durationpb.New(time.Minute),
		MinBackoff:       durationpb.New(time.Second),
		MaxBackoff:       durationpb.New(10 * time.Second),
		MaxDoublings:     2,
	}
	name := e.createQueue(t, "lifecycle", rl, rc)

	got, err := e.client.GetQueue(e.ctx, &cloudtaskspb.GetQueueRequest{Name: name})
	if err != nil {
		t.Fatalf("GetQueue: %v", err)
	}
	if got.GetState() != cloudtaskspb.Queue_RUNNING {
		t.Errorf("state = %s, want RUNNING", got.GetState())
	}
	g := got.GetRateLimits()
	if g.GetMaxDispatchesPerSecond() != 20 || g.GetMaxConcurrentDispatches() != 7 || g.GetMaxBurstSize() != 20 {
		t.Errorf("rate limits = %v", g)
	}
	r := got.GetRetryConfig()
	if r.GetMaxAttempts() != 5 || r.GetMaxDoublings() != 2 || r.GetMinBackoff().AsDuration() != time.Second ||
		r.GetMaxBackoff().AsDuration() != 10*time.Second || r.GetMaxRetryDuration().AsDuration() != time.Minute {
		t.Errorf("retry config = %v", r)
	}

	_, err = e.client.CreateQueue(e.ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation, Queue: &cloudtaskspb.Queue{Name: name}})
	wantCode(t, err, codes.AlreadyExists)
	_, err = e.client.GetQueue(e.ctx, &cloudtaskspb.GetQueueRequest{Name: testLocation + "/queues/missing"})
	wantCode(t, err, codes.NotFound)
	_, err = e.client.CreateQueue(e.ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation,
		Queue: &cloudtaskspb.Queue{Name: testLocation + "/queues/bad_id"}})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.client.CreateQueue(e.ctx, &cloudtaskspb.CreateQueueRequest{Parent: testLocation,
		Queue: &cloudtaskspb.Queue{Name: testLocation + "/queues/toofast", RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 501}}})
	wantCode(t, err, codes.InvalidArgument)

	// Defaults for a bare queue.
	bare := e.createQueue(t, "bare", nil, nil)
	got, err = e.client.GetQueue(e.ctx, &cloudtaskspb.GetQueueRequest{Name: bare})
	if err != nil {
		t.Fatalf("GetQueue: %v", err)
	}
	if got.GetRateLimits().GetMaxDispatchesPerSecond() != 500 || got.GetRateLimits().GetMaxConcurrentDispatches() != 1000 ||
		got.GetRetryConfig().GetMaxAttempts() != 100 || got.GetRetryConfig().GetMaxDoublings() != 16 {
		t.Errorf("defaults = %v %v", got.GetRateLimits(), got.GetRetryConfig())
	}

	upd, err := e.client.UpdateQueue(e.ctx, &cloudtaskspb.UpdateQueueRequest{
		Queue:      &cloudtaskspb.Queue{Name: name, RetryConfig: &cloudtaskspb.RetryConfig{MaxAttempts: -1}},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"retry_config.max_attempts"}},
	})
	if err != nil {
		t.Fatalf("UpdateQueue: %v", err)
	}
	if upd.GetRetryConfig().GetMaxAttempts() != -1 || upd.GetRetryConfig().GetMaxDoublings() != 2 ||
		upd.GetRateLimits().GetMaxConcurrentDispatches() != 7 {
		t.Errorf("after update: %v %v", upd.GetRetryConfig(), upd.GetRateLimits())
	}
	_, err = e.client.UpdateQueue(e.ctx, &cloudtaskspb.UpdateQueueRequest{
		Queue:      &cloudtaskspb.Queue{Name: name},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
	})
	wantCode(t, err, codes.InvalidArgument)

	p, err := e.client.PauseQueue(e.ctx, &cloudtaskspb.PauseQueueRequest{Name: name})
	if err != nil || p.GetState() != cloudtaskspb.Queue_PAUSED {
		t.Fatalf("PauseQueue = %v, %v", p.GetState(), err)
	}
	tg := newTarget(t, ok)
	for range 3 {
		e.createTask(t, name, httpTask(tg.url(), "", nil))
	}
	if n := e.srv.Pending(name); n != 3 {
		t.Errorf("Pending = %d, want 3", n)
	}
	if n := e.srv.Pending("lifecycle"); n != 3 {
		t.Errorf("Pending by ID = %d, want 3", n)
	}
	pq, err := e.client.PurgeQueue(e.ctx, &cloudtaskspb.PurgeQueueRequest{Name: name})
	if err != nil || pq.GetPurgeTime() == nil {
		t.Fatalf("PurgeQueue = %v, %v", pq, err)
	}
	if n := e.srv.Pending(name); n != 0 {
		t.Errorf("Pending after purge = %d", n)
	}
	e.resume(t, name)
	e.waitIdle(t)
	if n := len(tg.snapshot()); n != 0 {
		t.Errorf("purged tasks delivered %d times", n)
	}

	it := e.client.ListQueues(e.ctx, &cloudtaskspb.ListQueuesRequest{Parent: testLocation})
	var names []string
	for {
		q, err := it.Next()
		if err != nil {
			break
		}
		names = append(names, q.GetName())
	}
	if len(names) != 2 {
		t.Errorf("ListQueues = %v", names)
	}
	if err := e.client.DeleteQueue(e.ctx, &cloudtaskspb.DeleteQueueRequest{Name: bare}); err != nil {
		t.Fatalf("DeleteQueue: %v", err)
	}
	_, err = e.client.GetQueue(e.ctx, &cloudtaskspb.GetQueueRequest{Name: bare})
	wantCode(t, err, codes.NotFound)
}
