package vertexemu

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dropcast/dropcast/shared/model"
)

// batchResult is what a job's prediction pass produced.
type batchResult struct {
	succeeded, failed int64
}

// run drives a job: PENDING for a third of JobLatency, then RUNNING while
// it predicts and writes its output, and a final state no earlier than
// JobLatency after creation.
func (s *Server) run(ctx context.Context, j *job) {
	defer s.work.Done()
	created := j.pb.CreateTime.AsTime()
	if !sleepUntil(ctx, created.Add(s.opts.JobLatency/3)) {
		s.endJob(j, batchResult{}, status.Error(codes.Canceled, "job cancelled"))
		return
	}
	s.mu.Lock()
	prefix := strings.TrimSuffix(j.pb.GetOutputConfig().GetGcsDestination().GetOutputUriPrefix(), "/")
	dir := prefix + "/" + OutputDirName(j.modelID, created)
	j.pb.State = aiplatformpb.JobState_JOB_STATE_RUNNING
	j.pb.StartTime = timestamppb.Now()
	j.pb.UpdateTime = j.pb.StartTime
	j.pb.OutputInfo = &aiplatformpb.BatchPredictionJob_OutputInfo{
		OutputLocation: &aiplatformpb.BatchPredictionJob_OutputInfo_GcsOutputDirectory{GcsOutputDirectory: dir},
	}
	input := j.pb.GetInputConfig()
	fail := j.fail
	s.mu.Unlock()

	var res batchResult
	var err error
	if fail {
		err = status.Error(codes.Internal, "injected failure: the batch prediction job failed")
	} else {
		res, err = s.predictBatch(ctx, j.modelID, input, dir)
	}
	if !sleepUntil(ctx, created.Add(s.opts.JobLatency)) && err == nil {
		err = status.Error(codes.Canceled, "job cancelled")
	}
	if ctx.Err() != nil {
		err = status.Error(codes.Canceled, "job cancelled")
	}
	s.endJob(j, res, err)
}

// endJob records a job's final state.
func (s *Server) endJob(j *job, res batchResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := timestamppb.Now()
	j.pb.EndTime, j.pb.UpdateTime = now, now
	j.pb.CompletionStats = &aiplatformpb.CompletionStats{SuccessfulCount: res.succeeded, FailedCount: res.failed}
	switch st := status.Convert(err); {
	case err == nil:
		j.pb.State = aiplatformpb.JobState_JOB_STATE_SUCCEEDED
	case st.Code() == codes.Canceled:
		j.pb.State = aiplatformpb.JobState_JOB_STATE_CANCELLED
		j.pb.Error = st.Proto()
	default:
		j.pb.State = aiplatformpb.JobState_JOB_STATE_FAILED
		j.pb.Error = st.Proto()
	}
	j.cancel()
}

// predictBatch predicts every input row and writes the output files under dir.
func (s *Server) predictBatch(ctx context.Context, modelID string, input *aiplatformpb.BatchPredictionJob_InputConfig, dir string) (batchResult, error) {
	header, rows, err := s.readInput(ctx, input)
	if err != nil {
		return batchResult{}, err
	}
	m := s.opts.Models[modelID]
	if err := checkColumns(m, func(col string) bool { return slices.Contains(header, col) }); err != nil {
		return batchResult{}, err
	}
	predHeader := append(slices.Clone(header), predictionColumns(m)...)
	errHeader := append(slices.Clone(header), ErrorColumn)
	var preds, errs [][]string
	for _, row := range rows {
		cells, err := s.predictRow(m, header, row)
		if err != nil {
			errs = append(errs, append(fitRow(row, len(header)), encodeJSON(rowStatus{Code: codes.InvalidArgument, Message: err.Error()})))
			continue
		}
		preds = append(preds, append(slices.Clone(row), cells...))
	}
	if err := s.writeParts(ctx, dir, predictionsFile, predHeader, preds); err != nil {
		return batchResult{}, err
	}
	if err := s.writeParts(ctx, dir, errorsFile, errHeader, errs); err != nil {
		return batchResult{}, err
	}
	return batchResult{succeeded: int64(len(preds)), failed: int64(len(errs))}, nil
}

// predictRow returns the prediction cells of one row (predictionCells), or
// why it failed.
func (s *Server) predictRow(m model.Predictor, header, row []string) ([]string, error) {
	if len(row) != len(header) {
		return nil, fmt.Errorf("row has %d fields, the header has %d", len(row), len(header))
	}
	s.mu.Lock()
	injected := s.chance(s.faults.PredictErrorRate)
	s.mu.Unlock()
	if injected {
		return nil, fmt.Errorf("injected prediction error")
	}
	values := make(map[string]string, len(header))
	for i, col := range header {
		values[col] = row[i]
	}
	p, err := m.Predict(values)
	if err != nil {
		return nil, err
	}
	return predictionCells(m, p), nil
}

// writeParts writes rows as files name(1), name(2), ... of at most
// RowsPerFile rows each, every one with the header; nothing when no rows.
func (s *Server) writeParts(ctx context.Context, dir string, name func(int) string, header []string, rows [][]string) error {
	for part := 1; len(rows) > 0; part++ {
		n := min(len(rows), s.opts.RowsPerFile)
		if err := writeCSV(ctx, s.opts.Storage, dir+"/"+name(part), append([][]string{header}, rows[:n]...)); err != nil {
			return status.Errorf(codes.Internal, "write output: %v", err)
		}
		rows = rows[n:]
	}
	return nil
}

// readInput reads every input row, aligned to the first file's header.
func (s *Server) readInput(ctx context.Context, input *aiplatformpb.BatchPredictionJob_InputConfig) ([]string, [][]string, error) {
	if bq := input.GetBigquerySource(); bq != nil {
		header, rows, err := s.opts.BigQuery(ctx, bq.GetInputUri())
		if err != nil {
			return nil, nil, status.Errorf(codes.InvalidArgument, "read %s: %v", bq.GetInputUri(), err)
		}
		return header, rows, nil
	}
	var header []string
	var rows [][]string
	for _, pattern := range input.GetGcsSource().GetUris() {
		uris, err := expandURI(ctx, s.opts.Storage, pattern)
		if err != nil {
			return nil, nil, status.Error(codes.InvalidArgument, err.Error())
		}
		for _, uri := range uris {
			recs, err := readCSV(ctx, s.opts.Storage, uri)
			if err != nil {
				return nil, nil, status.Error(codes.InvalidArgument, err.Error())
			}
			if len(recs) == 0 {
				return nil, nil, status.Errorf(codes.InvalidArgument, "input %s has no header row", uri)
			}
			if header == nil {
				header = recs[0]
			}
			order, err := alignment(header, recs[0])
			if err != nil {
				return nil, nil, status.Errorf(codes.InvalidArgument, "input %s: %v", uri, err)
			}
			for _, rec := range recs[1:] {
				rows = append(rows, reorder(rec, order))
			}
		}
	}
	return header, rows, nil
}

// alignment maps each column of want to its index in got; both must hold
// the same columns.
func alignment(want, got []string) ([]int, error) {
	if len(want) != len(got) {
		return nil, fmt.Errorf("header has %d columns, the first input file's has %d", len(got), len(want))
	}
	order := make([]int, len(want))
	for i, col := range want {
		order[i] = slices.Index(got, col)
		if order[i] < 0 {
			return nil, fmt.Errorf("header lacks column %q of the first input file", col)
		}
	}
	return order, nil
}

// reorder puts rec's fields in header order; a row of the wrong length is
// kept as is (it becomes an error row).
func reorder(rec []string, order []int) []string {
	if len(rec) != len(order) {
		return rec
	}
	out := make([]string, len(order))
	for i, j := range order {
		out[i] = rec[j]
	}
	return out
}

// fitRow pads or cuts a row to n fields for the errors file.
func fitRow(row []string, n int) []string {
	out := make([]string, n)
	copy(out, row)
	return out
}

// sleepUntil waits until t or ctx ends, reporting whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
