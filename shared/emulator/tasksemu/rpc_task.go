package tasksemu

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

var errInjectedCreate = errors.New("tasksemu: injected CreateTask failure")

// CreateTask stores a task. Named tasks whose name exists or is tombstoned
// are AlreadyExists; unnamed tasks get a random numeric ID.
func (v *service) CreateTask(_ context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	parent, err := parseQueueName(req.GetParent())
	if err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("parent: %w", err))
	}
	now := time.Now()
	pb, err := prepareTask(parent, req.GetTask(), now)
	if err != nil {
		return nil, err
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(parent.name())
	if err != nil {
		return nil, err
	}
	fault := s.faults.rollCreate()
	if fault == createFailBefore {
		s.stats.InjectedCreateErrors++
		return nil, statusError(codes.Unavailable, errInjectedCreate)
	}
	if pb.Name == "" {
		for pb.Name == "" || s.nameTakenLocked(q, pb.Name) {
			pb.Name = parent.name() + "/tasks/" + strconv.FormatUint(rand.Uint64(), 10)
		}
	} else if s.nameTakenLocked(q, pb.Name) {
		s.stats.AlreadyExists++
		return nil, status.Error(codes.AlreadyExists, fmt.Sprintf("task %s already exists or was executed or deleted recently", pb.Name))
	}
	t := &task{pb: pb, eta: pb.GetScheduleTime().AsTime()}
	s.addTaskLocked(q, t)
	if fault == createFailAfter {
		s.stats.InjectedCreateErrors++
		s.stats.InjectedCreateErrorsStored++
		return nil, statusError(codes.Unavailable, fmt.Errorf("%w (after storing %s)", errInjectedCreate, pb.Name))
	}
	return viewOf(pb, req.GetResponseView()), nil
}

// taskLocked finds a stored task by name or returns a NotFound status.
func (s *Server) taskLocked(name string) (*queue, *task, error) {
	ref, _, err := parseTaskName(name)
	if err != nil {
		return nil, nil, statusError(codes.InvalidArgument, fmt.Errorf("name: %w", err))
	}
	q, err := s.queueLocked(ref.name())
	if err != nil {
		return nil, nil, err
	}
	t := q.tasks[name]
	if t == nil {
		return nil, nil, status.Error(codes.NotFound, fmt.Sprintf("task %s does not exist", name))
	}
	return q, t, nil
}

func (v *service) GetTask(_ context.Context, req *cloudtaskspb.GetTaskRequest) (*cloudtaskspb.Task, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	_, t, err := s.taskLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	return viewOf(t.pb, req.GetResponseView()), nil
}

// ListTasks lists a queue's tasks in creation order.
func (v *service) ListTasks(_ context.Context, req *cloudtaskspb.ListTasksRequest) (*cloudtaskspb.ListTasksResponse, error) {
	s := v.s
	s.mu.Lock()
	q, err := s.queueLocked(req.GetParent())
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	ts := make([]*task, 0, len(q.tasks))
	for _, t := range q.tasks {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *task) int { return cmp.Compare(a.seq, b.seq) })
	all := make([]*cloudtaskspb.Task, len(ts))
	for i, t := range ts {
		all[i] = viewOf(t.pb, req.GetResponseView())
	}
	s.mu.Unlock()
	page, next, err := paginate(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &cloudtaskspb.ListTasksResponse{Tasks: page, NextPageToken: next}, nil
}

// DeleteTask removes a task and tombstones its name. An attempt in flight
// completes, but its outcome is ignored.
func (v *service) DeleteTask(_ context.Context, req *cloudtaskspb.DeleteTaskRequest) (*emptypb.Empty, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, t, err := s.taskLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	s.removeTaskLocked(q, t)
	return &emptypb.Empty{}, nil
}

// RunTask dispatches a task now, ignoring its schedule, the queue's pause
// state and rate limits. A task already being dispatched is
// FailedPrecondition.
func (v *service) RunTask(_ context.Context, req *cloudtaskspb.RunTaskRequest) (*cloudtaskspb.Task, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errServerClosed
	}
	q, t, err := s.taskLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	if t.running {
		return nil, status.Error(codes.FailedPrecondition, fmt.Sprintf("task %s is being dispatched", t.pb.GetName()))
	}
	heap.Remove(&q.ready, t.index)
	s.startAttemptLocked(q.ctx, q, t, time.Now())
	return viewOf(t.pb, req.GetResponseView()), nil
}
