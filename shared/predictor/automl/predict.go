package automl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Predict predicts rows online. AutoML Tables Predict takes one row per call,
// so rows go out as one call each, at most Config.Concurrency at a time. A row
// carries the model's input feature columns in the order of its
// input_feature_column_specs, taken from the header by display name; a column
// absent from the header, or an empty cell, is sent as null. The first error
// ends the whole call; RESOURCE_EXHAUSTED is wrapped in predictor.ErrQuota.
func (b *Backend) Predict(ctx context.Context, model string, header []string, rows [][]string) ([]predictor.Prediction, error) {
	t, err := b.tablesInfo(ctx, model)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.target = t.target.GetDisplayName()
	b.mu.Unlock()
	cols := make([]int, len(t.features))
	for i, f := range t.features {
		cols[i] = slices.Index(header, f.GetDisplayName())
	}
	keyCol := slices.Index(header, schema.RowKeyColumn)
	for i, r := range rows {
		if len(r) != len(header) {
			return nil, fmt.Errorf("automl: predict row %d has %d values, header has %d", i, len(r), len(header))
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	preds := make([]predictor.Prediction, len(rows))
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	sem := make(chan struct{}, b.cfg.Concurrency)
	for i, r := range rows {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := b.predictRow(ctx, model, t, tablesRow(t.features, cols, r))
			if err != nil {
				errOnce.Do(func() { firstErr = fmt.Errorf("automl: predict row %d: %w", i, err); cancel() })
				return
			}
			if keyCol >= 0 {
				p.RowKey = r[keyCol]
			}
			preds[i] = p
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("automl: predict: %w", err)
	}
	return preds, nil
}

// tablesRow builds the row payload: FLOAT64 cells as numbers when they parse,
// everything else as strings, empty or absent cells as null.
func tablesRow(features []*automlpb.ColumnSpec, cols []int, rec []string) *automlpb.Row {
	vals := make([]*structpb.Value, len(features))
	for i, f := range features {
		cell := ""
		if cols[i] >= 0 {
			cell = strings.TrimSpace(rec[cols[i]])
		}
		switch {
		case cell == "":
			vals[i] = structpb.NewNullValue()
		case f.GetDataType().GetTypeCode() == automlpb.TypeCode_FLOAT64:
			if v, err := strconv.ParseFloat(cell, 64); err == nil {
				vals[i] = structpb.NewNumberValue(v)
			} else {
				vals[i] = structpb.NewStringValue(cell) // the service says what is wrong
			}
		default:
			vals[i] = structpb.NewStringValue(cell)
		}
	}
	return &automlpb.Row{Values: vals}
}

// predictRow makes one Predict call and reads its Tables annotations
// (readAnnotations).
func (b *Backend) predictRow(ctx context.Context, model string, t *tablesModel, row *automlpb.Row) (predictor.Prediction, error) {
	resp, err := b.pred.Predict(ctx, &automlpb.PredictRequest{
		Name:    model,
		Payload: &automlpb.ExamplePayload{Payload: &automlpb.ExamplePayload_Row{Row: row}},
	})
	if status.Code(err) == codes.ResourceExhausted {
		return predictor.Prediction{}, fmt.Errorf("%w: %w", predictor.ErrQuota, err)
	}
	if err != nil {
		return predictor.Prediction{}, err
	}
	return readAnnotations(resp.GetPayload(), t.target.GetDataType().GetTypeCode() == automlpb.TypeCode_FLOAT64)
}

// readAnnotations reads a Predict answer's Tables annotations (fixture
// automl-tables-online-prediction). A classifier (CATEGORY target) answers a
// CATEGORY value "with the above confidence score" per class: the label is
// the value of the highest score. A regression (FLOAT64 target) answers "the
// predicted (with above prediction_interval) FLOAT64 value", whose score "is
// not populated": the label is that number, with no scores.
func readAnnotations(payload []*automlpb.AnnotationPayload, regression bool) (predictor.Prediction, error) {
	if regression {
		for _, a := range payload {
			if v, ok := a.GetTables().GetValue().GetKind().(*structpb.Value_NumberValue); ok {
				return predictor.Prediction{Label: strconv.FormatFloat(v.NumberValue, 'f', -1, 64)}, nil
			}
		}
		return predictor.Prediction{}, errors.New("response has no Tables annotation with a number value")
	}
	p := predictor.Prediction{Scores: map[string]float64{}}
	for _, a := range payload {
		tab := a.GetTables()
		if tab == nil {
			continue
		}
		class, score := tab.GetValue().GetStringValue(), float64(tab.GetScore())
		p.Scores[class] = score
		if p.Label == "" || score > p.Score {
			p.Label, p.Score = class, score
		}
	}
	if p.Label == "" {
		return predictor.Prediction{}, errors.New("response has no Tables annotation")
	}
	return p, nil
}
