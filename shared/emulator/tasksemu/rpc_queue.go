package tasksemu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var errServerClosed = status.Error(codes.Unavailable, "tasksemu: server is closing")

func configError(err error) error {
	if errors.Is(err, errUnsupportedHTTPTarget) {
		return statusError(codes.Unimplemented, err)
	}
	return statusError(codes.InvalidArgument, err)
}

// queueLocked finds a queue by name or returns a NotFound status.
func (s *Server) queueLocked(name string) (*queue, error) {
	q := s.queues[name]
	if q == nil {
		return nil, status.Error(codes.NotFound, fmt.Sprintf("queue %s does not exist", name))
	}
	return q, nil
}

func (v *service) CreateQueue(_ context.Context, req *cloudtaskspb.CreateQueueRequest) (*cloudtaskspb.Queue, error) {
	if err := parseLocation(req.GetParent()); err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("parent: %w", err))
	}
	ref, err := parseQueueName(req.GetQueue().GetName())
	if err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("queue.name: %w", err))
	}
	if ref.parent != req.GetParent() {
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("queue %s is not under parent %s", ref.name(), req.GetParent()))
	}
	pb := proto.Clone(req.GetQueue()).(*cloudtaskspb.Queue)
	if err := normalizeQueueConfig(pb); err != nil {
		return nil, configError(err)
	}
	pb.State = cloudtaskspb.Queue_RUNNING
	pb.PurgeTime = nil
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errServerClosed
	}
	if s.queues[ref.name()] != nil {
		return nil, status.Error(codes.AlreadyExists, fmt.Sprintf("queue %s already exists", ref.name()))
	}
	s.newQueueLocked(ref, pb)
	return proto.Clone(pb).(*cloudtaskspb.Queue), nil
}

func (v *service) GetQueue(_ context.Context, req *cloudtaskspb.GetQueueRequest) (*cloudtaskspb.Queue, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(q.pb).(*cloudtaskspb.Queue), nil
}

func (v *service) ListQueues(_ context.Context, req *cloudtaskspb.ListQueuesRequest) (*cloudtaskspb.ListQueuesResponse, error) {
	if err := parseLocation(req.GetParent()); err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("parent: %w", err))
	}
	s := v.s
	s.mu.Lock()
	var all []*cloudtaskspb.Queue
	for _, q := range s.queues {
		if q.ref.parent == req.GetParent() {
			all = append(all, proto.Clone(q.pb).(*cloudtaskspb.Queue))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *cloudtaskspb.Queue) int { return strings.Compare(a.GetName(), b.GetName()) })
	page, next, err := paginate(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &cloudtaskspb.ListQueuesResponse{Queues: page, NextPageToken: next}, nil
}

// UpdateQueue changes rate limits and retry config per update_mask and,
// like the service, creates the queue if it does not exist.
func (v *service) UpdateQueue(_ context.Context, req *cloudtaskspb.UpdateQueueRequest) (*cloudtaskspb.Queue, error) {
	ref, err := parseQueueName(req.GetQueue().GetName())
	if err != nil {
		return nil, statusError(codes.InvalidArgument, fmt.Errorf("queue.name: %w", err))
	}
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errServerClosed
	}
	q := s.queues[ref.name()]
	cur := &cloudtaskspb.Queue{Name: ref.name(), State: cloudtaskspb.Queue_RUNNING}
	if q != nil {
		cur = q.pb
	}
	pb, err := mergeQueueUpdate(cur, req.GetQueue(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, configError(err)
	}
	if q == nil {
		s.newQueueLocked(ref, pb)
	} else {
		s.reconfigureLocked(q, pb)
	}
	return proto.Clone(pb).(*cloudtaskspb.Queue), nil
}

func (v *service) DeleteQueue(_ context.Context, req *cloudtaskspb.DeleteQueueRequest) (*emptypb.Empty, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	s.deleteQueueLocked(q)
	return &emptypb.Empty{}, nil
}

// PurgeQueue deletes every task in the queue; their names are tombstoned.
func (v *service) PurgeQueue(_ context.Context, req *cloudtaskspb.PurgeQueueRequest) (*cloudtaskspb.Queue, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	for _, t := range q.tasks {
		s.removeTaskLocked(q, t)
	}
	q.pb.PurgeTime = timestamppb.New(time.Now())
	return proto.Clone(q.pb).(*cloudtaskspb.Queue), nil
}

func (v *service) PauseQueue(_ context.Context, req *cloudtaskspb.PauseQueueRequest) (*cloudtaskspb.Queue, error) {
	return v.s.setQueueState(req.GetName(), cloudtaskspb.Queue_PAUSED)
}

func (v *service) ResumeQueue(_ context.Context, req *cloudtaskspb.ResumeQueueRequest) (*cloudtaskspb.Queue, error) {
	return v.s.setQueueState(req.GetName(), cloudtaskspb.Queue_RUNNING)
}

func (s *Server) setQueueState(name string, st cloudtaskspb.Queue_State) (*cloudtaskspb.Queue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.queueLocked(name)
	if err != nil {
		return nil, err
	}
	q.pb.State = st
	q.signal()
	return proto.Clone(q.pb).(*cloudtaskspb.Queue), nil
}
