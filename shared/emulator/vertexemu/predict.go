package vertexemu

import (
	"context"
	"strconv"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/model"
)

// Predict predicts instances (objects mapping column to value) with the
// endpoint's deployed model that has the most traffic. Each prediction is
// the tabular result of the model's task (onlineResult). An instance that
// lacks a column of the model's fails the request, naming the columns.
// It takes PredictBaseLatency + n*PredictPerRowLatency.
func (s *Server) Predict(ctx context.Context, req *aiplatformpb.PredictRequest) (*aiplatformpb.PredictResponse, error) {
	n := len(req.GetInstances())
	if n == 0 {
		return nil, status.Error(codes.InvalidArgument, "instances is empty")
	}
	s.mu.Lock()
	ep, err := s.lookupEndpoint(req.GetEndpoint())
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	dm := servingModel(ep.pb)
	if dm == nil {
		s.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "endpoint %s has no deployed model with traffic assigned", ep.pb.Name)
	}
	modelID := dm.Model[len(s.parent()+"/models/"):]
	switch {
	case take(&s.faults.QuotaErrors) || s.chance(s.faults.QuotaErrorRate):
		s.mu.Unlock()
		return nil, status.Errorf(codes.ResourceExhausted, "quota exceeded for online prediction requests on %s", ep.pb.Name)
	case s.chance(s.faults.PredictErrorRate):
		s.mu.Unlock()
		return nil, status.Error(codes.Internal, "injected prediction error")
	}
	s.stats.predictCalls++
	s.stats.predictRows += int64(n)
	s.mu.Unlock()

	if !sleepUntil(ctx, time.Now().Add(s.opts.PredictBaseLatency+time.Duration(n)*s.opts.PredictPerRowLatency)) {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	m := s.opts.Models[modelID]
	resp := &aiplatformpb.PredictResponse{DeployedModelId: dm.Id, Model: dm.Model, ModelVersionId: "1", ModelDisplayName: modelID}
	for i, inst := range req.GetInstances() {
		p, err := predictInstance(m, inst)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "instances[%d]: %v", i, status.Convert(err).Message())
		}
		v, err := onlineResult(m, p)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "encode prediction: %v", err)
		}
		resp.Predictions = append(resp.Predictions, v)
	}
	return resp, nil
}

// servingModel is the deployed model with the largest share of the
// endpoint's traffic; nil when no model has any (Endpoint.traffic_split: "If
// a DeployedModel's ID is not listed in this map, then it receives no
// traffic.").
func servingModel(ep *aiplatformpb.Endpoint) *aiplatformpb.DeployedModel {
	var best *aiplatformpb.DeployedModel
	for _, dm := range ep.DeployedModels {
		if ep.TrafficSplit[dm.Id] > 0 && (best == nil || ep.TrafficSplit[dm.Id] > ep.TrafficSplit[best.Id]) {
			best = dm
		}
	}
	return best
}

// predictInstance predicts one instance, an object of column values.
func predictInstance(m model.Predictor, inst *structpb.Value) (model.Prediction, error) {
	obj := inst.GetStructValue()
	if obj == nil {
		return model.Prediction{}, status.Error(codes.InvalidArgument, "instance is not an object")
	}
	if err := checkColumns(m, func(col string) bool { _, ok := obj.Fields[col]; return ok }); err != nil {
		return model.Prediction{}, err
	}
	row := make(map[string]string, len(obj.Fields))
	for col, v := range obj.Fields {
		switch k := v.Kind.(type) {
		case *structpb.Value_StringValue:
			row[col] = k.StringValue
		case *structpb.Value_NumberValue:
			row[col] = strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
		case *structpb.Value_BoolValue:
			row[col] = strconv.FormatBool(k.BoolValue)
		case *structpb.Value_NullValue:
			row[col] = ""
		default:
			return model.Prediction{}, status.Errorf(codes.InvalidArgument, "column %q: lists and objects are not supported", col)
		}
	}
	return m.Predict(row)
}
