package model

// Task is what a model predicts: a class or a number.
type Task string

// Tasks a model may have.
const (
	// Classification predicts one of Classes, with a score for each.
	Classification Task = "classification"
	// Regression predicts a number (Prediction.Value).
	Regression Task = "regression"
)

// Predictor is a model as the local Vertex AI and AutoML emulators serve it:
// dropcast's own Model, or a model file of another library with what the
// file lacks (feature names, task, classes, target) from its sidecar.
type Predictor interface {
	// Task is whether the model classifies or regresses.
	Task() Task
	// Target is the name of the column the model predicts.
	Target() string
	// Classes are a classifier's classes in a stable order (the order of
	// its score columns); nil for a regression.
	Classes() []string
	// Columns are the input columns the model reads.
	Columns() []string
	// NumericColumns are those of Columns the model reads as numbers (the
	// rest are categories).
	NumericColumns() []string
	// Predict scores one row given by column name. Columns the model does
	// not read are ignored; a column it needs that the row lacks, or whose
	// value it cannot read (text where it reads a number), is an error
	// naming the column. An empty value is a missing value, which every
	// model handles (never an error).
	Predict(row map[string]string) (Prediction, error)
}

var _ Predictor = (*Model)(nil)
