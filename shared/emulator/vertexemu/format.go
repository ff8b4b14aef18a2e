package vertexemu

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
)

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
