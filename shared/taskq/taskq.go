// Package taskq enqueues step tasks on Cloud Tasks with deterministic names, so
// an enqueue repeated after an ambiguous failure or a duplicated delivery finds
// the task it already created.
package taskq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Task is one invocation of a step for a run: the body Cloud Tasks delivers.
type Task struct {
	RunID   string `json:"run_id"`
	Epoch   int    `json:"epoch"`
	Step    string `json:"step"`
	Segment int    `json:"segment"`
}

// Name is the task's ID in the queue: {run}-e{epoch}-{step}-{segment}.
func (t Task) Name() string {
	return t.RunID + "-e" + strconv.Itoa(t.Epoch) + "-" + t.Step + "-" + strconv.Itoa(t.Segment)
}

var stepRE = regexp.MustCompile(`^[a-z]{1,20}$`)

// MaxBody is the largest task body a step accepts.
const MaxBody = 4 << 10

// Decode parses and checks a task body.
func Decode(b []byte) (Task, error) {
	var t Task
	if len(b) > MaxBody {
		return t, fmt.Errorf("task body of %d bytes exceeds %d", len(b), MaxBody)
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("decode task: %w", err)
	}
	switch {
	case t.RunID == "":
		return t, errors.New("task: run_id is required")
	case !stepRE.MatchString(t.Step):
		return t, fmt.Errorf("task: invalid step %q", t.Step)
	case t.Epoch < 1:
		return t, fmt.Errorf("task: invalid epoch %d", t.Epoch)
	case t.Segment < 0:
		return t, fmt.Errorf("task: invalid segment %d", t.Segment)
	}
	return t, nil
}

// Queue enqueues tasks on one Cloud Tasks queue.
type Queue struct {
	client   *cloudtasks.Client
	queue    string
	baseURL  string
	invoker  string
	deadline time.Duration
}

// Config says where tasks go and how they are delivered.
type Config struct {
	// Queue is projects/P/locations/L/queues/Q.
	Queue string
	// BaseURL is the steps' URL prefix; a task for step S posts to BaseURL/S.
	BaseURL string
	// Invoker is the service account whose OIDC token is sent; empty sends none.
	Invoker string
	// DispatchDeadline bounds one delivery: 15s to 30m; zero leaves the
	// service's default (10 minutes).
	DispatchDeadline time.Duration
}

// New returns a queue using client.
func New(client *cloudtasks.Client, cfg Config) *Queue {
	return &Queue{client: client, queue: cfg.Queue, baseURL: cfg.BaseURL, invoker: cfg.Invoker, deadline: cfg.DispatchDeadline}
}

// Enqueue creates t, due at notBefore (zero: now). A task of that name that
// exists already (or ran or was deleted recently: up to 24 hours, fixture
// tasks-already-exists) is success: it is this one.
func (q *Queue) Enqueue(ctx context.Context, t Task, notBefore time.Time) error {
	body, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode task %s: %w", t.Name(), err)
	}
	req := &cloudtaskspb.HttpRequest{
		HttpMethod: cloudtaskspb.HttpMethod_POST,
		Url:        q.baseURL + "/" + t.Step,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       body,
	}
	if q.invoker != "" {
		req.AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{
			OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: q.invoker, Audience: req.Url},
		}
	}
	task := &cloudtaskspb.Task{
		Name:        q.TaskName(t),
		MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: req},
	}
	if q.deadline > 0 {
		// Unset means the service's default (10 minutes for HTTP tasks);
		// an explicit 0s is documented only for App Engine tasks.
		task.DispatchDeadline = durationpb.New(q.deadline)
	}
	if !notBefore.IsZero() {
		task.ScheduleTime = timestamppb.New(notBefore)
	}
	_, err = q.client.CreateTask(ctx, &cloudtaskspb.CreateTaskRequest{Parent: q.queue, Task: task})
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cloudtasks.CreateTask %s: %w", t.Name(), err)
	}
	return nil
}

// Waiting reports whether t is still in the queue: created and neither
// executed successfully nor out of retries, so the queue will still deliver
// it (a task being dispatched is in the queue too). Cloud Tasks documents
// GetTask (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks/get,
// and the GetTask comment of google/cloud/tasks/v2/cloudtasks.proto): "After
// a task is successfully executed or has exhausted its retry attempts, the
// task is deleted. A GetTask request for a deleted task returns a NOT_FOUND
// error." A task deleted by DeleteTask or PurgeQueue is NOT_FOUND as well.
// The caller needs cloudtasks.tasks.get on the queue.
func (q *Queue) Waiting(ctx context.Context, t Task) (bool, error) {
	_, err := q.client.GetTask(ctx, &cloudtaskspb.GetTaskRequest{Name: q.TaskName(t)})
	switch {
	case status.Code(err) == codes.NotFound:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cloudtasks.GetTask %s: %w", t.Name(), err)
	}
	return true, nil
}

// TaskName is t's full resource name in the queue.
func (q *Queue) TaskName(t Task) string { return q.queue + "/tasks/" + t.Name() }
