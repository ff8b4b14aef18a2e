package automlemu

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"github.com/dropcast/dropcast/shared/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// predictionService serves the AutoML PredictionService.
type predictionService struct {
	automlpb.UnimplementedPredictionServiceServer
	st *state
}

// Predict answers one Tables row, as AutoML Tables did: a batch of n rows is
// n calls, each taking PredictBaseLatency + PredictPerRowLatency.
func (s *predictionService) Predict(ctx context.Context, req *automlpb.PredictRequest) (*automlpb.PredictResponse, error) {
	st := s.st
	st.mu.Lock()
	st.predictCalls++
	ms, err := st.lookupModel(req.GetName())
	if err != nil {
		st.mu.Unlock()
		return nil, err
	}
	if !ms.deployed {
		st.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "model %q is not deployed", req.GetName())
	}
	m := ms.m
	specs := st.resource(ms).GetTablesModelMetadata().GetInputFeatureColumnSpecs()
	quota := st.faults.roll(st.faults.f.QuotaErrorRate)
	server := !quota && st.faults.roll(st.faults.f.ServerErrorRate)
	bad := st.faults.roll(st.faults.f.PredictErrorRate)
	st.mu.Unlock()

	switch {
	case quota:
		return nil, status.Error(codes.ResourceExhausted, "online prediction quota exceeded (injected fault)")
	case server:
		return nil, status.Error(codes.Unavailable, "prediction service unavailable (injected fault)")
	}
	row, err := rowValues(specs, req.GetPayload())
	if err != nil {
		return nil, err
	}
	if !sleep(ctx, st.opts.PredictBaseLatency+st.opts.PredictPerRowLatency) {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if bad {
		return nil, status.Error(codes.InvalidArgument, "row cannot be predicted (injected fault)")
	}
	p, err := m.Predict(row)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "predict: %v", err)
	}
	st.mu.Lock()
	st.predictRows++
	st.mu.Unlock()
	return &automlpb.PredictResponse{Payload: annotations(m, p)}, nil
}

// rowValues maps a Tables row payload onto column display names: values
// follow column_spec_ids when set, else the input feature column specs.
func rowValues(specs []*automlpb.ColumnSpec, payload *automlpb.ExamplePayload) (map[string]string, error) {
	r := payload.GetRow()
	if r == nil {
		return nil, status.Error(codes.InvalidArgument, "payload must be a Tables row")
	}
	byID := map[string]string{}
	for _, s := range specs {
		byID[s.GetName()[strings.LastIndex(s.GetName(), "/")+1:]] = s.GetDisplayName()
	}
	cols := make([]string, 0, len(specs))
	if ids := r.GetColumnSpecIds(); len(ids) > 0 {
		for _, id := range ids {
			col, ok := byID[id]
			if !ok {
				return nil, status.Errorf(codes.InvalidArgument, "column spec id %q is not an input feature", id)
			}
			cols = append(cols, col)
		}
	} else {
		for _, s := range specs {
			cols = append(cols, s.GetDisplayName())
		}
	}
	if len(r.GetValues()) != len(cols) {
		return nil, status.Errorf(codes.InvalidArgument, "row has %d values, want %d (one per input feature column)", len(r.GetValues()), len(cols))
	}
	row := make(map[string]string, len(cols))
	for i, v := range r.GetValues() {
		switch k := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			row[cols[i]] = k.StringValue
		case *structpb.Value_NumberValue:
			row[cols[i]] = strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
		case *structpb.Value_BoolValue:
			row[cols[i]] = strconv.FormatBool(k.BoolValue)
		case *structpb.Value_NullValue, nil:
			// A null is the column's missing value, which the model handles
			// (or refuses, naming the column).
			row[cols[i]] = ""
		default:
			return nil, status.Errorf(codes.InvalidArgument, "column %q: list and struct values are not supported", cols[i])
		}
	}
	return row, nil
}

// annotations are the Tables annotations of a prediction (fixture
// automl-tables-online-prediction): for a classifier one per class, its
// CATEGORY value with its score, highest score first; for a regression one
// holding the FLOAT64 value and its prediction_interval, without a score. A
// local model has no interval: it is the value itself.
func annotations(m model.Predictor, p model.Prediction) []*automlpb.AnnotationPayload {
	if m.Task() == model.Regression {
		return []*automlpb.AnnotationPayload{{Detail: &automlpb.AnnotationPayload_Tables{Tables: &automlpb.TablesAnnotation{
			Value:              structpb.NewNumberValue(p.Value),
			PredictionInterval: &automlpb.DoubleRange{Start: p.Value, End: p.Value},
		}}}}
	}
	classes := slices.Clone(m.Classes()) // sorted below: not the model's own
	sort.SliceStable(classes, func(i, j int) bool { return p.Scores[classes[i]] > p.Scores[classes[j]] })
	out := make([]*automlpb.AnnotationPayload, 0, len(classes))
	for _, c := range classes {
		out = append(out, &automlpb.AnnotationPayload{Detail: &automlpb.AnnotationPayload_Tables{Tables: &automlpb.TablesAnnotation{
			Score: float32(p.Scores[c]),
			Value: structpb.NewStringValue(c),
		}}})
	}
	return out
}
