package vertexemu

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
)

// The batch output layout, as Google documents it for AutoML tabular
// models with a Cloud Storage destination (shared/conformance fixtures
// vertex-batch-output-*, docs/fidelity.md):
//
//   - the directory prediction-<model display name>-<job create time>, "where
//     timestamp is in YYYY-MM-DDThh:mm:ss.sssZ ISO-8601 format"
//     (BatchPredictionJob.OutputConfig.gcs_destination);
//   - "The inference objects are named predictions_1.csv,
//     predictions_2.csv, and so on. They contain a header row with the column
//     names, and a row for every inference returned." — the how-to page's
//     form; the proto comment's predictions_0001.<extension> is the other
//     documented form, which readers must take too;
//   - every input column, then "For each potential value of your target
//     column, a column named TARGET_COLUMN_NAME_VALUE_score" (classification)
//     or predicted_TARGET_COLUMN_NAME (regression; "The prediction interval
//     is not returned for CSV output");
//   - errors_1.csv, ...: the failed rows "followed by an additional error
//     field which as value has google.rpc.Status containing only code and
//     message fields". The CSV header name of that field is not documented;
//     the emulator calls it error, as the proto names the field.

// ScoreColumn is the batch output column of class's score for target.
func ScoreColumn(target, class string) string { return target + "_" + class + "_score" }

// PredictedColumn is the batch output column of a regression's value for
// target.
func PredictedColumn(target string) string { return "predicted_" + target }

// ErrorColumn is the name of the status column of errors files.
const ErrorColumn = "error"

// OutputDirName is the name of a job's output directory below its prefix.
func OutputDirName(modelDisplayName string, created time.Time) string {
	return "prediction-" + modelDisplayName + "-" + created.UTC().Format("2006-01-02T15:04:05.000Z")
}

// predictionsFile and errorsFile name part n (from 1) of a job's output.
func predictionsFile(n int) string { return "predictions_" + strconv.Itoa(n) + ".csv" }
func errorsFile(n int) string      { return "errors_" + strconv.Itoa(n) + ".csv" }

// rowStatus is the JSON of an error cell.
type rowStatus struct {
	Code    codes.Code `json:"code"`
	Message string     `json:"message"`
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// rowStatus holds only a number and a string.
		panic(fmt.Sprintf("vertexemu: encode %T: %v", v, err))
	}
	return string(b)
}
