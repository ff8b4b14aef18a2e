package automlemu

import (
	"github.com/dropcast/dropcast/shared/gcsuri"

	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/dropcast/dropcast/shared/model"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// timestampLayout is the timestamp in AutoML batch output directory names.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// batchJob is what a running BatchPredict needs.
type batchJob struct {
	op      *operation
	m       model.Predictor
	display string
	input   *automlpb.BatchPredictInputConfig
	prefix  string
	fail    bool
	start   time.Time
}

// maxURILength is the longest input URI or output prefix io.proto allows:
// "up to 2000 characters long".
const maxURILength = 2000

// BatchPredict starts a batch prediction operation. Tables models need not be
// deployed for it. Input is GCS CSV files named by full object path (io.proto
// GcsSource: "Accepted forms: * Full object path", so a wildcard is refused)
// or BigQuery (through Options.BigQuery); output is a GCS prefix.
func (s *predictionService) BatchPredict(_ context.Context, req *automlpb.BatchPredictRequest) (*longrunningpb.Operation, error) {
	st := s.st
	in := req.GetInputConfig()
	switch {
	case len(in.GetGcsSource().GetInputUris()) > 0:
		for i, uri := range in.GetGcsSource().GetInputUris() {
			if err := checkInputURI(uri); err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "input_config.gcs_source.input_uris[%d]: %v", i, err)
			}
		}
	case in.GetBigquerySource().GetInputUri() != "":
		if st.opts.BigQuery == nil {
			return nil, status.Error(codes.FailedPrecondition, "BigQuery input is not available in this emulator (Options.BigQuery is not set)")
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "input_config needs gcs_source.input_uris or bigquery_source.input_uri")
	}
	prefix := req.GetOutputConfig().GetGcsDestination().GetOutputUriPrefix()
	if _, _, err := gcsuri.Split(prefix); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "output_config.gcs_destination.output_uri_prefix: %v", err)
	}
	if len(prefix) > maxURILength {
		return nil, status.Errorf(codes.InvalidArgument, "output_config.gcs_destination.output_uri_prefix is %d characters long, more than %d", len(prefix), maxURILength)
	}
	if st.opts.Storage == nil {
		return nil, status.Error(codes.FailedPrecondition, "the emulator has no Storage client for batch prediction")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ms, err := st.lookupModel(req.GetName())
	if err != nil {
		return nil, err
	}
	input := proto.Clone(in).(*automlpb.BatchPredictInputConfig)
	meta := &automlpb.OperationMetadata{Details: &automlpb.OperationMetadata_BatchPredictDetails{BatchPredictDetails: &automlpb.BatchPredictOperationMetadata{InputConfig: input}}}
	o, ctx, err := st.newOperation(req.GetName(), meta)
	if err != nil {
		return nil, err
	}
	st.batchJobs++
	job := &batchJob{op: o, m: ms.m, display: ms.display, input: input, prefix: strings.TrimRight(prefix, "/"),
		fail: take(&st.faults.f.FailBatch), start: time.Now().UTC()}
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		dir, err := st.runBatch(ctx, job)
		if !sleep(ctx, time.Until(job.start.Add(st.opts.JobLatency))) && err == nil {
			err = status.Error(codes.Canceled, "operation cancelled")
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if err != nil {
			o.finish(nil, err)
			return
		}
		job.op.meta.GetBatchPredictDetails().OutputInfo = &automlpb.BatchPredictOperationMetadata_BatchPredictOutputInfo{
			OutputLocation: &automlpb.BatchPredictOperationMetadata_BatchPredictOutputInfo_GcsOutputDirectory{GcsOutputDirectory: dir},
		}
		o.finish(&automlpb.BatchPredictResult{}, nil)
	}()
	return o.snapshot(), nil
}

// checkInputURI accepts the one documented form of an input URI: a full
// object path, gs://bucket/directory/object.csv, of up to 2000 characters.
func checkInputURI(uri string) error {
	if len(uri) > maxURILength {
		return fmt.Errorf("%q is %d characters long, more than %d", uri, len(uri), maxURILength)
	}
	if strings.Contains(uri, "*") {
		return fmt.Errorf("%q: wildcards are not accepted; give full object paths, e.g. gs://bucket/directory/object.csv", uri)
	}
	_, object, err := gcsuri.Split(uri)
	if err != nil {
		return err
	}
	if object == "" || strings.HasSuffix(object, "/") {
		return fmt.Errorf("%q is not a full object path, e.g. gs://bucket/directory/object.csv", uri)
	}
	return nil
}

// runBatch predicts every input row and writes the output directory.
func (st *state) runBatch(ctx context.Context, job *batchJob) (dir string, err error) {
	if job.fail {
		return "", status.Error(codes.Internal, "batch prediction failed (injected fault)")
	}
	header, rows, err := st.readBatchInput(ctx, job.input)
	if err != nil {
		return "", status.Errorf(codes.InvalidArgument, "read input: %v", err)
	}
	if err := checkColumns(job.m, header); err != nil {
		return "", err
	}
	target := job.m.Target()
	outHeader := append(slices.Clone(header), predictionColumns(job.m)...)
	errHeader := append(slices.Clone(header), "errors_"+target)
	var good, bad [][]string
	for _, rec := range rows {
		p, perr := st.predictRecord(job.m, header, rec)
		if perr != nil {
			bad = append(bad, append(append([]string(nil), rec...), errorCell(perr)))
			continue
		}
		good = append(good, append(slices.Clone(rec), predictionCells(job.m, p)...))
	}
	dir = job.prefix + "/prediction-" + job.display + "-" + job.start.Format(timestampLayout)
	for i, part := range shard(good, st.opts.RowsPerFile) {
		if err := writeCSV(ctx, st.opts.Storage, fmt.Sprintf("%s/tables_%d.csv", dir, i+1), outHeader, part); err != nil {
			return "", status.Errorf(codes.Internal, "write output: %v", err)
		}
	}
	if err := writeCSV(ctx, st.opts.Storage, dir+"/errors_1.csv", errHeader, bad); err != nil {
		return "", status.Errorf(codes.Internal, "write errors: %v", err)
	}
	return dir, nil
}

func (st *state) readBatchInput(ctx context.Context, in *automlpb.BatchPredictInputConfig) ([]string, [][]string, error) {
	if uri := in.GetBigquerySource().GetInputUri(); uri != "" {
		h, rows, err := st.opts.BigQuery(ctx, uri)
		if err != nil {
			return nil, nil, fmt.Errorf("bigquery %s: %w", uri, err)
		}
		return h, rows, nil
	}
	return readInputs(ctx, st.opts.Storage, in.GetGcsSource().GetInputUris())
}

// predictRecord predicts one CSV record, or says why it cannot be.
func (st *state) predictRecord(m model.Predictor, header, rec []string) (model.Prediction, error) {
	st.mu.Lock()
	bad := st.faults.roll(st.faults.f.PredictErrorRate)
	st.mu.Unlock()
	if bad {
		return model.Prediction{}, status.Error(codes.Internal, "row cannot be predicted (injected fault)")
	}
	if len(rec) != len(header) {
		return model.Prediction{}, status.Errorf(codes.InvalidArgument, "row has %d values, header has %d", len(rec), len(header))
	}
	row := make(map[string]string, len(header))
	for i, h := range header {
		row[h] = rec[i]
	}
	p, err := m.Predict(row)
	if err != nil {
		return model.Prediction{}, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	return p, nil
}

// errorCell is the errors_<target> value: the google.rpc.Status as JSON.
func errorCell(err error) string {
	s := status.Convert(err)
	b, jerr := json.Marshal(struct {
		Code    int32  `json:"code"`
		Message string `json:"message"`
	}{int32(s.Code()), s.Message()})
	if jerr != nil {
		return s.Message()
	}
	return string(b)
}

// shard splits rows into files of at most n rows (n <= 0: one file); there
// is always at least one file, so an empty result still has its header.
func shard(rows [][]string, n int) [][][]string {
	if n <= 0 || len(rows) <= n {
		return [][][]string{rows}
	}
	var out [][][]string
	for len(rows) > n {
		out = append(out, rows[:n])
		rows = rows[n:]
	}
	return append(out, rows)
}

// predictionColumns are the columns a model's predictions add after the
// input columns in tables_N.csv (io.proto BatchPredictOutputConfig; fixture
// automl-tables-batch-output-columns): "<target>_<target value>_score" per
// class for a classifier, "predicted_<target>" for a regression.
func predictionColumns(m model.Predictor) []string {
	if m.Task() == model.Regression {
		return []string{"predicted_" + m.Target()}
	}
	cols := make([]string, 0, len(m.Classes()))
	for _, c := range m.Classes() {
		cols = append(cols, m.Target()+"_"+c+"_score")
	}
	return cols
}

// predictionCells are one row's values of predictionColumns.
func predictionCells(m model.Predictor, p model.Prediction) []string {
	if m.Task() == model.Regression {
		return []string{strconv.FormatFloat(p.Value, 'g', -1, 64)}
	}
	cells := make([]string, 0, len(m.Classes()))
	for _, c := range m.Classes() {
		cells = append(cells, strconv.FormatFloat(p.Scores[c], 'g', -1, 64))
	}
	return cells
}

// checkColumns refuses batch input whose header lacks a column the model
// reads, naming the columns: AutoML Tables asks that "Your data source must
// contain tabular data that includes all of the columns used to train the
// model" (predict-batch page; fixture vertex-input-missing-columns for the
// same rule on Vertex AI). How it refuses is undocumented: the emulator
// fails the operation with INVALID_ARGUMENT.
func checkColumns(m model.Predictor, header []string) error {
	var missing []string
	for _, col := range m.Columns() {
		if !slices.Contains(header, col) {
			missing = append(missing, col)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "the input is missing column(s) %s of the model predicting %s (it reads %s)",
		strings.Join(missing, ", "), m.Target(), strings.Join(m.Columns(), ", "))
}
