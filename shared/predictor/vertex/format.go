package vertex

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dropcast/dropcast/shared/predictor"
)

// The output layout of Vertex AI batch prediction for tabular models, which
// ReadOutput reads and WriteOutput writes. In the job's output directory:
//
//	predictions_0001.csv, predictions_0002.csv, ...
//	errors_0001.csv, ...   (rows that could not be predicted)
//
// A predictions file is a CSV with a header: the input columns (here always
// including _row) and then predicted_<target>, whose cell for a
// classification model is JSON {"classes":[...],"scores":[...]} and for a
// regression model {"value":x} or a bare number. An errors file has the
// input columns and a column error (a google.rpc.Status as JSON).

const (
	predictionsPrefix = "predictions_"
	errorsPrefix      = "errors_"
	predictedPrefix   = "predicted_"
)

// predictionsFile names part n of the predictions.
func predictionsFile(n int) string { return fmt.Sprintf("%s%04d.csv", predictionsPrefix, n) }

// predictionColumn is the index of the prediction column: the last one
// named predicted_*, as Vertex AI appends it after the input columns.
func predictionColumn(header []string) int {
	for i := len(header) - 1; i >= 0; i-- {
		if strings.HasPrefix(header[i], predictedPrefix) {
			return i
		}
	}
	return -1
}

// parseCell parses a predicted_<target> cell.
func parseCell(cell string) (predictor.Prediction, error) {
	cell = strings.TrimSpace(cell)
	if v, err := strconv.ParseFloat(cell, 64); err == nil {
		return predictor.Prediction{Label: strconv.FormatFloat(v, 'f', -1, 64)}, nil
	}
	var v any
	if err := json.Unmarshal([]byte(cell), &v); err != nil {
		return predictor.Prediction{}, fmt.Errorf("prediction %q is not JSON: %w", cell, err)
	}
	return fromResult(v)
}

// fromResult reads a decoded classification ({"classes","scores"}) or
// regression ({"value"}) result.
func fromResult(v any) (predictor.Prediction, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return predictor.Prediction{}, fmt.Errorf("prediction %v is not an object", v)
	}
	if val, ok := obj["value"].(float64); ok {
		return predictor.Prediction{Label: strconv.FormatFloat(val, 'f', -1, 64)}, nil
	}
	classes, _ := obj["classes"].([]any)
	scores, _ := obj["scores"].([]any)
	if len(classes) == 0 || len(classes) != len(scores) {
		return predictor.Prediction{}, fmt.Errorf("prediction %v: want classes and scores of equal, non-zero length", v)
	}
	p := predictor.Prediction{Scores: make(map[string]float64, len(classes))}
	for i := range classes {
		class, ok1 := classes[i].(string)
		score, ok2 := scores[i].(float64)
		if !ok1 || !ok2 {
			return predictor.Prediction{}, fmt.Errorf("prediction %v: class %d is not a string with a numeric score", v, i)
		}
		p.Scores[class] = score
		if i == 0 || score > p.Score {
			p.Label, p.Score = class, score
		}
	}
	return p, nil
}

// formatCell writes a prediction as a predicted_<target> cell, classes in
// sorted order.
func formatCell(p predictor.Prediction) (string, error) {
	if p.Scores == nil {
		if _, err := strconv.ParseFloat(p.Label, 64); err != nil {
			return "", fmt.Errorf("regression prediction %q is not a number", p.Label)
		}
		return `{"value":` + p.Label + `}`, nil
	}
	var out struct {
		Classes []string  `json:"classes"`
		Scores  []float64 `json:"scores"`
	}
	out.Classes = slices.Sorted(maps.Keys(p.Scores))
	for _, c := range out.Classes {
		out.Scores = append(out.Scores, p.Scores[c])
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode prediction: %w", err)
	}
	return string(b), nil
}
