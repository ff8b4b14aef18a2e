package vertex

import (
	"fmt"
	"strconv"

	"github.com/dropcast/dropcast/shared/predictor"
)

// fromResult reads an online prediction: a classification's
// {"classes":[...],"scores":[...]} (TabularClassificationPredictionResult) or
// a regression's {"value":x,...} (TabularRegressionPredictionResult); fixture
// vertex-online-prediction.
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
