package vertex

import (
	"context"
	"fmt"
	"slices"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
)

// Predict predicts rows online on model's endpoint, MaxInstances rows per
// call. Each row is sent as an object of its columns (strings, as CSV
// input is), without the _row key, which becomes the RowKey. A quota or
// rate-limit refusal wraps predictor.ErrQuota.
func (b *Backend) Predict(ctx context.Context, model string, header []string, rows [][]string) ([]predictor.Prediction, error) {
	_, parent, id, err := b.modelName(model)
	if err != nil {
		return nil, err
	}
	keyCol := slices.Index(header, schema.RowKeyColumn)
	if keyCol < 0 {
		return nil, fmt.Errorf("vertex: predict: header lacks the %s column", schema.RowKeyColumn)
	}
	epName := parent + "/endpoints/" + endpointID(id)
	out := make([]predictor.Prediction, 0, len(rows))
	for start := 0; start < len(rows); start += b.cfg.MaxInstances {
		chunk := rows[start:min(start+b.cfg.MaxInstances, len(rows))]
		preds, err := b.predictChunk(ctx, epName, header, keyCol, chunk)
		if err != nil {
			return nil, fmt.Errorf("vertex: predict rows %d-%d: %w", start+1, start+len(chunk), err)
		}
		out = append(out, preds...)
	}
	return out, nil
}

func (b *Backend) predictChunk(ctx context.Context, epName string, header []string, keyCol int, rows [][]string) ([]predictor.Prediction, error) {
	instances := make([]*structpb.Value, len(rows))
	for i, row := range rows {
		if len(row) != len(header) {
			return nil, fmt.Errorf("row %s has %d fields, the header %d", rowKey(row, keyCol), len(row), len(header))
		}
		fields := make(map[string]*structpb.Value, len(header))
		for j, col := range header {
			if j != keyCol {
				fields[col] = structpb.NewStringValue(row[j])
			}
		}
		instances[i] = structpb.NewStructValue(&structpb.Struct{Fields: fields})
	}
	resp, err := b.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: instances})
	if err != nil {
		return nil, callErr("predict on "+epName, err)
	}
	if len(resp.GetPredictions()) != len(rows) {
		return nil, fmt.Errorf("%d predictions for %d rows", len(resp.GetPredictions()), len(rows))
	}
	out := make([]predictor.Prediction, len(rows))
	for i, v := range resp.GetPredictions() {
		p, err := fromResult(v.AsInterface())
		if err != nil {
			return nil, fmt.Errorf("row %s: %w", rowKey(rows[i], keyCol), err)
		}
		p.RowKey = rows[i][keyCol]
		out[i] = p
	}
	return out, nil
}

func rowKey(row []string, keyCol int) string {
	if keyCol < len(row) {
		return row[keyCol]
	}
	return "?"
}
