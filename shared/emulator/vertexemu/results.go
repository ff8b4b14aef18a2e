package vertexemu

import (
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/model"
)

// predictionColumns are the batch output columns a model adds after the
// input columns: <target>_<class>_score per class for a classifier,
// predicted_<target> for a regression (fixtures
// vertex-batch-output-classification and vertex-batch-output-regression).
func predictionColumns(m model.Predictor) []string {
	if m.Task() == model.Regression {
		return []string{PredictedColumn(m.Target())}
	}
	cols := make([]string, 0, len(m.Classes()))
	for _, class := range m.Classes() {
		cols = append(cols, ScoreColumn(m.Target(), class))
	}
	return cols
}

// predictionCells are one row's values of predictionColumns.
func predictionCells(m model.Predictor, p model.Prediction) []string {
	if m.Task() == model.Regression {
		return []string{strconv.FormatFloat(p.Value, 'g', -1, 64)}
	}
	cells := make([]string, 0, len(m.Classes()))
	for _, class := range m.Classes() {
		cells = append(cells, strconv.FormatFloat(p.Scores[class], 'g', -1, 64))
	}
	return cells
}

// onlineResult is one online prediction as Vertex AI answers it for a
// tabular model (fixture vertex-online-prediction): a classifier's
// TabularClassificationPredictionResult {classes, scores}, every class of
// the model in its order with the N-th score for the N-th class, or a
// regression's TabularRegressionPredictionResult {value, lower_bound,
// upper_bound}. A local model has no prediction interval: its bounds are
// the value itself.
func onlineResult(m model.Predictor, p model.Prediction) (*structpb.Value, error) {
	if m.Task() == model.Regression {
		return structpb.NewValue(map[string]any{"value": p.Value, "lower_bound": p.Value, "upper_bound": p.Value})
	}
	classes := make([]any, 0, len(m.Classes()))
	scores := make([]any, 0, len(m.Classes()))
	for _, class := range m.Classes() {
		classes = append(classes, class)
		scores = append(scores, p.Scores[class])
	}
	return structpb.NewValue(map[string]any{"classes": classes, "scores": scores})
}

// checkColumns refuses input that lacks columns the model was trained on,
// naming them. Vertex AI asks for input that "must contain tabular data
// that includes all of the columns, in any order, that were used to train
// the model" (fixture vertex-input-missing-columns); how it refuses input
// that does not is undocumented: the emulator answers INVALID_ARGUMENT.
func checkColumns(m model.Predictor, have func(col string) bool) error {
	var missing []string
	for _, col := range m.Columns() {
		if !have(col) {
			missing = append(missing, col)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "the input is missing column(s) %s of the model predicting %s (it reads %s)",
		strings.Join(missing, ", "), m.Target(), strings.Join(slices.Clone(m.Columns()), ", "))
}
