package vertexemu

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
)

// The batch output layout. A job with gcs_destination.output_uri_prefix
// PREFIX writes into the directory
//
//	PREFIX/prediction-<model display name>-<create time as YYYY_MM_DDTHH_MM_SS_mmmZ>
//
// (reported as output_info.gcs_output_directory) the files
//
//	predictions_0001.csv, predictions_0002.csv, ...
//	errors_0001.csv, ...                      (only when some rows failed)
//
// Each predictions file is a CSV with a header row: the input columns, in
// the input's order, then one column predicted_<target>, for example
// predicted_returned, holding the classification result as JSON:
//
//	{"classes":["false","true"],"scores":[0.83,0.17]}
//
// (classes in the model's order, scores[i] the confidence of classes[i]),
// which is how Vertex AI writes tabular classification results to CSV.
// Each errors file has the input columns then a column error holding a
// google.rpc.Status with only code and message:
//
//	{"code":3,"message":"model: column \"price\" is missing or empty"}

// PredictionColumn is the name of the prediction column for a target.
func PredictionColumn(target string) string { return "predicted_" + target }

// ErrorColumn is the name of the status column of errors files.
const ErrorColumn = "error"

// OutputDirName is the name of a job's output directory below its prefix.
func OutputDirName(modelDisplayName string, created time.Time) string {
	t := created.UTC()
	return fmt.Sprintf("prediction-%s-%s_%03dZ", modelDisplayName, t.Format("2006_01_02T15_04_05"), t.Nanosecond()/int(time.Millisecond))
}

// predictionsFile and errorsFile name part n (from 1) of a job's output.
func predictionsFile(n int) string { return fmt.Sprintf("predictions_%04d.csv", n) }
func errorsFile(n int) string      { return fmt.Sprintf("errors_%04d.csv", n) }

// classification is the JSON of a predicted_<target> cell and of an online
// prediction.
type classification struct {
	Classes []string  `json:"classes"`
	Scores  []float64 `json:"scores"`
}

// rowStatus is the JSON of an error cell.
type rowStatus struct {
	Code    codes.Code `json:"code"`
	Message string     `json:"message"`
}

func encodeJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// classification and rowStatus hold only strings and finite numbers.
		panic(fmt.Sprintf("vertexemu: encode %T: %v", v, err))
	}
	return string(b)
}
