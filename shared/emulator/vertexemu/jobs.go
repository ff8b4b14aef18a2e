package vertexemu

import (
	"context"
	"strings"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dropcast/dropcast/shared/gcsuri"
)

// job is one batch prediction job and its runner's handle.
type job struct {
	pb      *aiplatformpb.BatchPredictionJob
	modelID string
	// fail is set when the job was picked to fail by Faults.FailJobs.
	fail   bool
	cancel context.CancelFunc
}

// CreateBatchPredictionJob validates and starts a batch job; it runs in
// the background (see run) and the call returns it PENDING.
func (s *Server) CreateBatchPredictionJob(_ context.Context, req *aiplatformpb.CreateBatchPredictionJobRequest) (*aiplatformpb.BatchPredictionJob, error) {
	if err := s.checkParent(req.GetParent()); err != nil {
		return nil, err
	}
	in := req.GetBatchPredictionJob()
	if in.GetDisplayName() == "" {
		return nil, status.Error(codes.InvalidArgument, "batch_prediction_job.display_name is required")
	}
	id, err := s.modelID(in.GetModel())
	if err != nil {
		return nil, err
	}
	if err := s.checkJobIO(in); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "emulator is closing")
	}
	pb := proto.Clone(in).(*aiplatformpb.BatchPredictionJob)
	pb.Name = s.parent() + "/batchPredictionJobs/" + s.newID()
	pb.Model, pb.ModelVersionId = s.ModelName(id), "1"
	pb.State = aiplatformpb.JobState_JOB_STATE_PENDING
	pb.CreateTime = timestamppb.New(now)
	pb.UpdateTime = pb.CreateTime
	pb.OutputInfo, pb.Error, pb.CompletionStats, pb.StartTime, pb.EndTime = nil, nil, nil, nil, nil
	ctx, cancel := context.WithCancel(s.ctx)
	j := &job{pb: pb, modelID: id, fail: take(&s.faults.FailJobs), cancel: cancel}
	s.jobs[pb.Name] = j
	s.jobOrder = append(s.jobOrder, pb.Name)
	s.stats.jobs++
	s.work.Add(1)
	go s.run(ctx, j)
	return proto.Clone(pb).(*aiplatformpb.BatchPredictionJob), nil
}

// checkJobIO checks the input and output configuration the emulator supports.
func (s *Server) checkJobIO(in *aiplatformpb.BatchPredictionJob) error {
	ic, oc := in.GetInputConfig(), in.GetOutputConfig()
	switch {
	case ic.GetGcsSource() != nil:
		if ic.GetInstancesFormat() != "csv" {
			return status.Errorf(codes.InvalidArgument, "instances_format %q is not supported for gcs_source; use \"csv\"", ic.GetInstancesFormat())
		}
		if len(ic.GetGcsSource().GetUris()) == 0 {
			return status.Error(codes.InvalidArgument, "gcs_source.uris is empty")
		}
		for _, uri := range ic.GetGcsSource().GetUris() {
			if _, _, err := gcsuri.Split(uri); err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
		}
		if s.opts.Storage == nil {
			return status.Error(codes.FailedPrecondition, "emulator has no storage client for gcs_source input")
		}
	case ic.GetBigquerySource() != nil:
		if ic.GetInstancesFormat() != "bigquery" {
			return status.Errorf(codes.InvalidArgument, "instances_format %q is not supported for bigquery_source; use \"bigquery\"", ic.GetInstancesFormat())
		}
		if !strings.HasPrefix(ic.GetBigquerySource().GetInputUri(), "bq://") {
			return status.Errorf(codes.InvalidArgument, "bigquery_source.input_uri %q: want bq://project.dataset.table", ic.GetBigquerySource().GetInputUri())
		}
		if s.opts.BigQuery == nil {
			return status.Error(codes.FailedPrecondition, "bigquery_source input is not supported by this emulator: it was started without a BigQuery reader (Options.BigQuery)")
		}
	default:
		return status.Error(codes.InvalidArgument, "input_config needs gcs_source or bigquery_source")
	}
	dest := oc.GetGcsDestination()
	if dest == nil {
		return status.Error(codes.InvalidArgument, "output_config needs gcs_destination (the emulator writes Cloud Storage output only)")
	}
	if oc.GetPredictionsFormat() != "csv" {
		return status.Errorf(codes.InvalidArgument, "predictions_format %q is not supported; use \"csv\"", oc.GetPredictionsFormat())
	}
	if _, _, err := gcsuri.Split(dest.GetOutputUriPrefix()); err != nil {
		return status.Error(codes.InvalidArgument, "output_uri_prefix: "+err.Error())
	}
	if s.opts.Storage == nil {
		return status.Error(codes.FailedPrecondition, "emulator has no storage client for gcs_destination output")
	}
	return nil
}

// GetBatchPredictionJob returns a job's current state.
func (s *Server) GetBatchPredictionJob(_ context.Context, req *aiplatformpb.GetBatchPredictionJobRequest) (*aiplatformpb.BatchPredictionJob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.lookupJob(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(j.pb).(*aiplatformpb.BatchPredictionJob), nil
}

// ListBatchPredictionJobs lists jobs newest first, filtered on
// display_name, state and model (field=value clauses joined by AND).
func (s *Server) ListBatchPredictionJobs(_ context.Context, req *aiplatformpb.ListBatchPredictionJobsRequest) (*aiplatformpb.ListBatchPredictionJobsResponse, error) {
	if err := s.checkParent(req.GetParent()); err != nil {
		return nil, err
	}
	filter, err := parseFilter(req.GetFilter(), "display_name", "state", "model")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*aiplatformpb.BatchPredictionJob
	for i := len(s.jobOrder) - 1; i >= 0; i-- {
		pb := s.jobs[s.jobOrder[i]].pb
		if matches(filter, "display_name", pb.DisplayName) && matches(filter, "state", pb.State.String()) && matches(filter, "model", pb.Model) {
			all = append(all, proto.Clone(pb).(*aiplatformpb.BatchPredictionJob))
		}
	}
	s.mu.Unlock()
	jobs, next, err := page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &aiplatformpb.ListBatchPredictionJobsResponse{BatchPredictionJobs: jobs, NextPageToken: next}, nil
}

// CancelBatchPredictionJob asks a running job to stop; it moves to
// CANCELLING and then CANCELLED. Finished jobs cannot be cancelled.
func (s *Server) CancelBatchPredictionJob(_ context.Context, req *aiplatformpb.CancelBatchPredictionJobRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, err := s.lookupJob(req.GetName())
	if err != nil {
		return nil, err
	}
	if terminal(j.pb.State) {
		return nil, status.Errorf(codes.FailedPrecondition, "job %s is already %s", j.pb.Name, j.pb.State)
	}
	j.pb.State = aiplatformpb.JobState_JOB_STATE_CANCELLING
	j.pb.UpdateTime = timestamppb.Now()
	j.cancel()
	return &emptypb.Empty{}, nil
}

func (s *Server) lookupJob(name string) (*job, error) {
	j, ok := s.jobs[s.canon(name)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "batch prediction job %q not found", name)
	}
	return j, nil
}

func terminal(state aiplatformpb.JobState) bool {
	switch state {
	case aiplatformpb.JobState_JOB_STATE_SUCCEEDED, aiplatformpb.JobState_JOB_STATE_FAILED,
		aiplatformpb.JobState_JOB_STATE_CANCELLED, aiplatformpb.JobState_JOB_STATE_EXPIRED,
		aiplatformpb.JobState_JOB_STATE_PARTIALLY_SUCCEEDED:
		return true
	}
	return false
}
