package automlemu

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// operation is one long-running operation; guarded by state.mu.
type operation struct {
	op      *longrunningpb.Operation
	meta    *automlpb.OperationMetadata
	worksOn string // the model the operation works on
	cancel  context.CancelFunc
}

// newOperation registers a running operation on model name; the caller holds st.mu.
func (st *state) newOperation(worksOn string, meta *automlpb.OperationMetadata) (*operation, context.Context, error) {
	worksOn = st.canonical(worksOn)
	st.nextOp++
	id := "TBL" + strconv.Itoa(1000+st.nextOp)
	now := timestamppb.Now()
	meta.CreateTime, meta.UpdateTime = now, now
	ctx, cancel := context.WithCancel(st.ctx)
	o := &operation{op: &longrunningpb.Operation{Name: st.parent() + "/operations/" + id}, meta: meta, worksOn: worksOn, cancel: cancel}
	if err := o.syncMeta(); err != nil {
		cancel()
		return nil, nil, err
	}
	st.ops[o.op.Name] = o
	st.opOrder = append(st.opOrder, o.op.Name)
	return o, ctx, nil
}

func (o *operation) syncMeta() error {
	o.meta.UpdateTime = timestamppb.Now()
	a, err := anypb.New(o.meta)
	if err != nil {
		return status.Errorf(codes.Internal, "automlemu: pack metadata: %v", err)
	}
	o.op.Metadata = a
	return nil
}

// finish ends o with a response or an error; the caller holds st.mu. An
// operation already done (cancelled) stays as it is.
func (o *operation) finish(resp proto.Message, err error) {
	if o.op.Done {
		return
	}
	o.cancel()
	o.op.Done = true
	if serr := o.syncMeta(); serr != nil && err == nil {
		err = serr
	}
	if err == nil {
		a, perr := anypb.New(resp)
		if perr != nil {
			err = status.Errorf(codes.Internal, "automlemu: pack response: %v", perr)
		} else {
			o.op.Result = &longrunningpb.Operation_Response{Response: a}
			return
		}
	}
	o.op.Result = &longrunningpb.Operation_Error{Error: status.Convert(err).Proto()}
}

// sleep waits d or until ctx ends, reporting whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// operationsService serves google.longrunning.Operations.
type operationsService struct {
	longrunningpb.UnimplementedOperationsServer
	st *state
}

func (s *operationsService) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	o, ok := s.st.ops[s.st.canonical(req.GetName())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
	}
	return o.snapshot(), nil
}

// ListOperations takes the filter the AutoML reference documents (one
// comparison of operation_id, done or worksOn, with = or !=); pages are
// offsets.
func (s *operationsService) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	if s.st.canonical(req.GetName()) != s.st.parent() {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want %q", req.GetName(), s.st.parent())
	}
	match, err := parseFilter(req.GetFilter(), s.st.canonical)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "filter %q: %v", req.GetFilter(), err)
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		if start, err = strconv.Atoi(t); err != nil || start < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "bad page token %q", t)
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > 100 {
		size = 100
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	var all []*longrunningpb.Operation
	for _, name := range s.st.opOrder {
		o, ok := s.st.ops[name]
		if ok && match(o) {
			all = append(all, o.op)
		}
	}
	resp := &longrunningpb.ListOperationsResponse{}
	for i := start; i < len(all) && i < start+size; i++ {
		resp.Operations = append(resp.Operations, proto.Clone(all[i]).(*longrunningpb.Operation))
	}
	if start+size < len(all) {
		resp.NextPageToken = strconv.Itoa(start + size)
	}
	return resp, nil
}

func (s *operationsService) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	o, ok := s.st.ops[s.st.canonical(req.GetName())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
	}
	o.cancel()
	delete(s.st.ops, o.op.Name)
	return &emptypb.Empty{}, nil
}

// CancelOperation ends a running operation with CANCELLED at once.
func (s *operationsService) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	o, ok := s.st.ops[s.st.canonical(req.GetName())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %q not found", req.GetName())
	}
	o.finish(nil, status.Error(codes.Canceled, "operation cancelled"))
	return &emptypb.Empty{}, nil
}

// comparison is the one filter form the AutoML reference documents
// (projects.locations.operations.list): "operation_id - for = or !=.",
// "done - for = or !=.", "worksOn - for = or !=.", e.g. "done=true" or
// "worksOn = projects/my-project/locations/us-central1/models/15".
var comparison = regexp.MustCompile(`^\s*([A-Za-z_]+)\s*(!=|=)\s*(\S+)\s*$`)

// parseFilter turns a documented filter into a predicate; canonical maps a
// worksOn value to the form the operation records (the project by number).
// Anything the reference does not document (AND, quoted values, other
// fields or operators) is refused.
func parseFilter(filter string, canonical func(string) string) (func(*operation) bool, error) {
	if strings.TrimSpace(filter) == "" {
		return func(*operation) bool { return true }, nil
	}
	m := comparison.FindStringSubmatch(filter)
	if m == nil {
		return nil, errors.New("want one comparison FIELD = VALUE or FIELD != VALUE of operation_id, done or worksOn")
	}
	field, op, value := m[1], m[2], m[3]
	if strings.ContainsAny(value, `"'`) {
		return nil, fmt.Errorf("value %s: quoted values are not documented", value)
	}
	var get func(*operation) string
	switch field {
	case "done":
		if value != "true" && value != "false" {
			return nil, fmt.Errorf("done must be true or false, have %q", value)
		}
		get = func(o *operation) string { return strconv.FormatBool(o.op.Done) }
	case "worksOn":
		value = canonical(value)
		get = func(o *operation) string { return o.worksOn }
	case "operation_id":
		get = func(o *operation) string { return o.op.Name[strings.LastIndex(o.op.Name, "/")+1:] }
	default:
		return nil, fmt.Errorf("unknown field %q (the documented fields are operation_id, done and worksOn)", field)
	}
	want := op == "="
	return func(o *operation) bool { return (get(o) == value) == want }, nil
}

// snapshot is a copy of the operation to hand out; the caller holds st.mu.
func (o *operation) snapshot() *longrunningpb.Operation {
	return proto.Clone(o.op).(*longrunningpb.Operation)
}
