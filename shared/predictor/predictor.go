// Package predictor is the contract between the predict and postprocess steps and
// the model services behind them. Backends live in sub-packages: vertex (the
// default, Vertex AI) and automl (AutoML v1beta1 Tables, the original design).
package predictor

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Backend runs predictions with one model service. Every method makes one call
// (or a few) and returns: nothing blocks on a long-running operation; callers
// store the returned names and poll them across invocations.
type Backend interface {
	// StartBatch starts a batch prediction job and returns its resource name
	// (a Vertex BatchPredictionJob or an AutoML operation). It is idempotent in
	// req.Key: a job already started with the same key is re-attached, not repeated.
	StartBatch(ctx context.Context, req BatchRequest) (job string, err error)
	// PollBatch checks a batch job once.
	PollBatch(ctx context.Context, job string) (BatchStatus, error)

	// Deploy makes model servable online and returns the long-running operation
	// to poll, or "" when the model is already deployed.
	Deploy(ctx context.Context, model string) (op string, err error)
	// Undeploy stops serving model (and billing for it) and returns the
	// operation to poll, or "" when it is not deployed.
	Undeploy(ctx context.Context, model string) (op string, err error)
	// PollOperation checks a deploy or undeploy operation once; a failed
	// operation is reported as done with err set.
	PollOperation(ctx context.Context, op string) (done bool, err error)
	// Predict predicts rows online; header names the columns of every row.
	// The result has one Prediction per row, in order.
	Predict(ctx context.Context, model string, header []string, rows [][]string) ([]Prediction, error)

	// ListOutput lists the files of a finished batch job's output (or of the
	// online layout written by WriteOutput) in out.Dir: its predictions files
	// in the order of their numbers and its errors files. It fails when the
	// directory holds neither.
	ListOutput(ctx context.Context, out Output) (OutputFiles, error)
	// OpenOutput opens one predictions file ListOutput listed, to read its
	// rows one at a time, in the file's order.
	OpenOutput(ctx context.Context, out Output, file string) (OutputReader, error)
	// CountErrors counts the rows of one errors file ListOutput listed: rows
	// the service could not predict.
	CountErrors(ctx context.Context, file string) (int64, error)
	// WriteOutput writes online predictions of rows (whose columns are
	// out.Input) as file number part (from 1) in out.Dir, in the layout this
	// service's batch jobs use, so OpenOutput and postprocess need not know
	// which mode ran.
	WriteOutput(ctx context.Context, out Output, part int, rows [][]string, preds []Prediction) error
}

// Output is a directory of prediction files in the tabular layout
// (package tabular): every input column, then the model's prediction
// columns, named after its target.
type Output struct {
	// Dir is the gs:// directory.
	Dir string
	// Input are the columns the prediction input had, the row key among them.
	Input []string
	// Target is the model's target column. Empty: OpenOutput reads it from
	// the prediction columns' names, WriteOutput writes DefaultTarget.
	Target string
	// Files, when above 0, is how many predictions files the directory
	// holds, numbered 1 to Files (the online mode knows it): ListOutput
	// lists those and fails when one is missing, so a file a crashed
	// invocation wrote past them is not read.
	Files int
}

// OutputFiles are the files of a prediction output directory, as gs:// URIs.
type OutputFiles struct {
	// Predictions are the predictions files, in the order of their numbers.
	Predictions []string
	// Errors are the errors files: rows the service could not predict.
	Errors []string
}

// OutputReader reads the rows of one predictions file.
type OutputReader interface {
	// Classes are the classes the file's header has a score column for,
	// in header order; nil for a regression model.
	Classes() []string
	// Next returns the next row, or io.EOF after the last. The Row and its
	// Input are reused by the next call; its Scores map is not.
	Next() (*Row, error)
	// Close releases the file.
	Close() error
}

// Row is one row of a predictions file: the row's input values with its
// prediction.
type Row struct {
	// Input are the row's values of Output.Input's columns, in that order,
	// as the file holds them.
	Input []string
	Prediction
}

// ReadAll reads every predictions file of out with b, in order, calling fn
// per row (reused by the next call), and returns how many rows its errors
// files hold. It holds one row at a time.
func ReadAll(ctx context.Context, b Backend, out Output, fn func(*Row) error) (errorRows int64, err error) {
	files, err := b.ListOutput(ctx, out)
	if err != nil {
		return 0, err
	}
	for _, f := range files.Predictions {
		if err := readFile(ctx, b, out, f, fn); err != nil {
			return 0, err
		}
	}
	for _, f := range files.Errors {
		n, err := b.CountErrors(ctx, f)
		if err != nil {
			return 0, err
		}
		errorRows += n
	}
	return errorRows, nil
}

func readFile(ctx context.Context, b Backend, out Output, file string, fn func(*Row) error) error {
	r, err := b.OpenOutput(ctx, out, file)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// CounterOutputFiles is the run counter in which the online mode records
// how many predictions files it wrote (Output.Files for postprocess).
const CounterOutputFiles = "prediction_files"

// DefaultTarget names the prediction columns WriteOutput writes when the
// model's target is not known.
const DefaultTarget = "target"

// BatchRequest says what a batch job predicts and where it writes.
type BatchRequest struct {
	// Key is deterministic per run attempt (used as the job's display name).
	Key string
	// Model is the model's full resource name, projects/P/locations/L/models/M.
	Model string
	// InputURIs are gs:// CSV files, each with a header row; or
	InputURIs []string
	// BigQuerySource is bq://project.dataset.table.
	BigQuerySource string
	// OutputPrefix is gs://BUCKET/PREFIX; the service makes its own directory below it.
	OutputPrefix string
}

// BatchStatus is what one poll of a batch job found.
type BatchStatus struct {
	Done bool
	// State is the service's own state name, for the run record.
	State string
	// OutputDir is the gs:// directory the service reported, once known.
	OutputDir string
	// Err is set when the job failed; it is permanent.
	Err error
}

// Prediction is one row's prediction.
type Prediction struct {
	// RowKey is the row's _row value, joining it back to its clean row.
	RowKey string
	// Label is the top class for classification, or the value for regression.
	Label string
	// Score is the top class's score (0 for regression).
	Score float64
	// Scores maps every class to its score (nil for regression).
	Scores map[string]float64
}

// ErrQuota marks an error from rate limits or quota: back off, do not fail.
var ErrQuota = errors.New("prediction quota or rate limit exceeded")

// Permanent reports whether a model service error cannot be cured by a retry:
// the model or location does not exist, the request is invalid, or the
// caller lacks permission. Such an error fails the run at once.
func Permanent(err error) bool {
	switch status.Code(err) {
	case codes.NotFound, codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}
