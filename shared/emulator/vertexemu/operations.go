package vertexemu

import (
	"context"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// operation is one long-running operation.
type operation struct {
	op    *longrunningpb.Operation
	timer *time.Timer
	// abort undoes the operation's pending effect when it is cancelled.
	abort func()
}

// finishFunc completes an operation's effect and returns its response; it
// runs with s.mu held.
type finishFunc func() (proto.Message, error)

// startOperation registers an operation on resource that finishes after
// latency (at once when latency is 0); callers hold s.mu. It returns a copy
// of the operation as it stands.
func (s *Server) startOperation(resource string, meta proto.Message, latency time.Duration, finish finishFunc, abort func()) (*longrunningpb.Operation, error) {
	m, err := anypb.New(meta)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pack operation metadata: %v", err)
	}
	o := &operation{op: &longrunningpb.Operation{Name: resource + "/operations/" + s.newID(), Metadata: m}, abort: abort}
	s.ops[o.op.Name] = o
	if latency <= 0 {
		s.finishOperation(o, finish)
	} else {
		o.timer = time.AfterFunc(latency, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.closed && !o.op.Done {
				s.finishOperation(o, finish)
			}
		})
	}
	return proto.Clone(o.op).(*longrunningpb.Operation), nil
}

// finishOperation runs finish and records its outcome; callers hold s.mu.
func (s *Server) finishOperation(o *operation, finish finishFunc) {
	resp, err := finish()
	o.op.Done = true
	if err != nil {
		o.op.Result = &longrunningpb.Operation_Error{Error: status.Convert(err).Proto()}
		return
	}
	a, err := anypb.New(resp)
	if err != nil {
		o.op.Result = &longrunningpb.Operation_Error{Error: status.Newf(codes.Internal, "pack response: %v", err).Proto()}
		return
	}
	o.op.Result = &longrunningpb.Operation_Response{Response: a}
}

func (s *Server) lookupOperation(name string) (*operation, error) {
	o, ok := s.ops[s.canon(name)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", name)
	}
	return o, nil
}

// GetOperation returns an operation's current state.
func (s *Server) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupOperation(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(o.op).(*longrunningpb.Operation), nil
}

// ListOperations lists the operations of a resource (req.name), optionally
// filtered on done=true|false.
func (s *Server) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	filter, err := parseFilter(req.GetFilter(), "done")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*longrunningpb.Operation
	prefix := s.canon(req.GetName()) + "/operations/"
	for name, o := range s.ops {
		if strings.HasPrefix(name, prefix) && matches(filter, "done", boolString(o.op.Done)) {
			all = append(all, proto.Clone(o.op).(*longrunningpb.Operation))
		}
	}
	s.mu.Unlock()
	sortByName(all)
	ops, next, err := page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &longrunningpb.ListOperationsResponse{Operations: ops, NextPageToken: next}, nil
}

// CancelOperation ends a pending operation with Canceled and undoes its effect.
func (s *Server) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.lookupOperation(req.GetName())
	if err != nil {
		return nil, err
	}
	if o.op.Done {
		return &emptypb.Empty{}, nil
	}
	if o.timer != nil {
		o.timer.Stop()
	}
	if o.abort != nil {
		o.abort()
	}
	o.op.Done = true
	o.op.Result = &longrunningpb.Operation_Error{Error: status.New(codes.Canceled, "operation cancelled").Proto()}
	return &emptypb.Empty{}, nil
}

// DeleteOperation forgets an operation.
func (s *Server) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.lookupOperation(req.GetName()); err != nil {
		return nil, err
	}
	delete(s.ops, s.canon(req.GetName()))
	return &emptypb.Empty{}, nil
}

// WaitOperation waits until an operation is done or the request's timeout
// (default one minute) passes, and returns its state.
func (s *Server) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	timeout := time.Minute
	if req.GetTimeout() != nil {
		timeout = req.GetTimeout().AsDuration()
	}
	deadline := time.Now().Add(timeout)
	for {
		op, err := s.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: req.GetName()})
		if err != nil || op.Done || time.Now().After(deadline) {
			return op, err
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func sortByName(ops []*longrunningpb.Operation) {
	slices.SortFunc(ops, func(a, b *longrunningpb.Operation) int { return strings.Compare(a.Name, b.Name) })
}
