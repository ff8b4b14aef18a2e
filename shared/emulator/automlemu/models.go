package automlemu

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/dropcast/dropcast/shared/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// modelState is one registered model; guarded by state.mu.
type modelState struct {
	id, display string
	m           model.Predictor
	created     time.Time

	deployed      bool
	deployedSince time.Time
	deployedTotal time.Duration
	busy          string // the deploy or undeploy operation running on it
}

// lookupModel finds a model by full name (the project by ID or number); the
// caller holds st.mu.
func (st *state) lookupModel(name string) (*modelState, error) {
	id, ok := strings.CutPrefix(st.canonical(name), st.parent()+"/models/")
	if ok {
		if m, found := st.models[id]; found {
			return m, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "model %q not found", name)
}

// columnSpecName is the name of a column spec of the model's (notional) dataset.
func (st *state) columnSpecName(ms *modelState, i int) string {
	return st.parent() + "/datasets/TBL" + ms.id + "/tableSpecs/1/columnSpecs/" + strconv.Itoa(i)
}

// features are the model's input feature columns with AutoML data types:
// numeric transforms are FLOAT64, the rest CATEGORY.
func features(m model.Predictor) []*automlpb.ColumnSpec {
	numeric := map[string]bool{}
	for _, col := range m.NumericColumns() {
		numeric[col] = true
	}
	var specs []*automlpb.ColumnSpec
	for _, col := range m.Columns() {
		code := automlpb.TypeCode_CATEGORY
		if numeric[col] {
			code = automlpb.TypeCode_FLOAT64
		}
		specs = append(specs, &automlpb.ColumnSpec{DisplayName: col, DataType: &automlpb.DataType{TypeCode: code}})
	}
	return specs
}

// resource is the Model message; the caller holds st.mu.
func (st *state) resource(ms *modelState) *automlpb.Model {
	specs := features(ms.m)
	for i, s := range specs {
		s.Name = st.columnSpecName(ms, i+1)
	}
	target := &automlpb.ColumnSpec{
		Name:        st.columnSpecName(ms, 0),
		DisplayName: ms.m.Target(),
		DataType:    &automlpb.DataType{TypeCode: targetType(ms.m)},
	}
	state := automlpb.Model_UNDEPLOYED
	if ms.deployed {
		state = automlpb.Model_DEPLOYED
	}
	return &automlpb.Model{
		Name:            st.modelName(ms.id),
		DisplayName:     ms.display,
		DatasetId:       "TBL" + ms.id,
		CreateTime:      timestamppb.New(ms.created),
		UpdateTime:      timestamppb.New(ms.created),
		DeploymentState: state,
		ModelMetadata: &automlpb.Model_TablesModelMetadata{TablesModelMetadata: &automlpb.TablesModelMetadata{
			TargetColumnSpec:        target,
			InputFeatureColumnSpecs: specs,
		}},
	}
}

// autoMLService serves the model part of the AutoMl service.
type autoMLService struct {
	automlpb.UnimplementedAutoMlServer
	st *state
}

func (s *autoMLService) GetModel(_ context.Context, req *automlpb.GetModelRequest) (*automlpb.Model, error) {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ms, err := s.st.lookupModel(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.st.resource(ms), nil
}

// ListModels lists every model in one page, by ID; the filter is ignored.
func (s *autoMLService) ListModels(_ context.Context, req *automlpb.ListModelsRequest) (*automlpb.ListModelsResponse, error) {
	if s.st.canonical(req.GetParent()) != s.st.parent() {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want %q", req.GetParent(), s.st.parent())
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	ids := make([]string, 0, len(s.st.models))
	for id := range s.st.models {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	resp := &automlpb.ListModelsResponse{}
	for _, id := range ids {
		resp.Model = append(resp.Model, s.st.resource(s.st.models[id]))
	}
	return resp, nil
}

func (s *autoMLService) DeployModel(_ context.Context, req *automlpb.DeployModelRequest) (*longrunningpb.Operation, error) {
	return s.st.startDeployment(req.GetName(), true)
}

func (s *autoMLService) UndeployModel(_ context.Context, req *automlpb.UndeployModelRequest) (*longrunningpb.Operation, error) {
	return s.st.startDeployment(req.GetName(), false)
}

// startDeployment starts a deploy (or undeploy) operation that ends after
// DeployLatency. Only one such operation may run on a model at a time.
func (st *state) startDeployment(name string, deploy bool) (*longrunningpb.Operation, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	ms, err := st.lookupModel(name)
	if err != nil {
		return nil, err
	}
	if ms.busy != "" {
		return nil, status.Errorf(codes.FailedPrecondition, "model %q: operation %s is still running", name, ms.busy)
	}
	meta := &automlpb.OperationMetadata{Details: &automlpb.OperationMetadata_UndeployModelDetails{UndeployModelDetails: &automlpb.UndeployModelOperationMetadata{}}}
	if deploy {
		meta.Details = &automlpb.OperationMetadata_DeployModelDetails{DeployModelDetails: &automlpb.DeployModelOperationMetadata{}}
	}
	o, ctx, err := st.newOperation(name, meta)
	if err != nil {
		return nil, err
	}
	fail := deploy && take(&st.faults.f.FailDeploy)
	ms.busy = o.op.Name
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		done := sleep(ctx, st.opts.DeployLatency)
		st.mu.Lock()
		defer st.mu.Unlock()
		ms.busy = ""
		switch {
		case !done:
			o.finish(nil, status.Error(codes.Canceled, "operation cancelled"))
		case fail:
			o.finish(nil, status.Errorf(codes.Internal, "deploying model %q failed (injected fault)", name))
		default:
			now := time.Now()
			if deploy && !ms.deployed {
				ms.deployed, ms.deployedSince = true, now
			} else if !deploy && ms.deployed {
				ms.deployed = false
				ms.deployedTotal += now.Sub(ms.deployedSince)
			}
			o.finish(&emptypb.Empty{}, nil)
		}
	}()
	return o.snapshot(), nil
}

// targetType is the data type of a model's target column: FLOAT64 for a
// regression, CATEGORY for a classifier. tables.proto keys the form of a
// prediction on it (fixture automl-tables-online-prediction).
func targetType(m model.Predictor) automlpb.TypeCode {
	if m.Task() == model.Regression {
		return automlpb.TypeCode_FLOAT64
	}
	return automlpb.TypeCode_CATEGORY
}
