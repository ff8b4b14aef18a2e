package vertex

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/predictor"
)

// StartBatch starts a batch prediction job with display name req.Key and
// returns its resource name. The newest job with that display name, in any
// state, is re-attached instead: a key names one attempt, so a job that failed
// before its name was recorded fails the attempt, whatever the crash timing
// (a new attempt — a rerun — uses a new key). Two concurrent calls with one
// key may still both create a job.
func (b *Backend) StartBatch(ctx context.Context, req predictor.BatchRequest) (string, error) {
	if req.Key == "" {
		return "", errors.New("vertex: batch request has no key")
	}
	model, parent, _, err := b.modelName(req.Model)
	if err != nil {
		return "", err
	}
	input, err := inputConfig(req)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(req.OutputPrefix, "gs://") {
		return "", fmt.Errorf("vertex: output prefix %q is not gs://", req.OutputPrefix)
	}
	existing, err := b.findJob(ctx, parent, req.Key)
	if err != nil || existing != "" {
		return existing, err
	}
	job, err := b.jobs.CreateBatchPredictionJob(ctx, &aiplatformpb.CreateBatchPredictionJobRequest{
		Parent: parent,
		BatchPredictionJob: &aiplatformpb.BatchPredictionJob{
			DisplayName: req.Key,
			Model:       model,
			InputConfig: input,
			OutputConfig: &aiplatformpb.BatchPredictionJob_OutputConfig{
				PredictionsFormat: "csv",
				Destination: &aiplatformpb.BatchPredictionJob_OutputConfig_GcsDestination{
					GcsDestination: &aiplatformpb.GcsDestination{OutputUriPrefix: req.OutputPrefix},
				},
			},
		},
	})
	if err != nil {
		return "", callErr("create batch prediction job "+req.Key, err)
	}
	return job.GetName(), nil
}

func inputConfig(req predictor.BatchRequest) (*aiplatformpb.BatchPredictionJob_InputConfig, error) {
	switch {
	case len(req.InputURIs) > 0 && req.BigQuerySource != "":
		return nil, errors.New("vertex: batch request has both input URIs and a BigQuery source")
	case len(req.InputURIs) > 0:
		return &aiplatformpb.BatchPredictionJob_InputConfig{
			InstancesFormat: "csv",
			Source:          &aiplatformpb.BatchPredictionJob_InputConfig_GcsSource{GcsSource: &aiplatformpb.GcsSource{Uris: req.InputURIs}},
		}, nil
	case strings.HasPrefix(req.BigQuerySource, "bq://"):
		return &aiplatformpb.BatchPredictionJob_InputConfig{
			InstancesFormat: "bigquery",
			Source:          &aiplatformpb.BatchPredictionJob_InputConfig_BigquerySource{BigquerySource: &aiplatformpb.BigQuerySource{InputUri: req.BigQuerySource}},
		}, nil
	}
	return nil, fmt.Errorf("vertex: batch request needs input URIs or a bq:// source (have %q)", req.BigQuerySource)
}

// findJob returns the newest job named key that has not failed, or "".
func (b *Backend) findJob(ctx context.Context, parent, key string) (string, error) {
	it := b.jobs.ListBatchPredictionJobs(ctx, &aiplatformpb.ListBatchPredictionJobsRequest{
		Parent: parent,
		Filter: "display_name=" + strconv.Quote(key),
	})
	var found *aiplatformpb.BatchPredictionJob
	for {
		j, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return "", callErr("list batch prediction jobs "+key, err)
		}
		if j.GetDisplayName() != key {
			continue
		}
		if found == nil || j.GetCreateTime().AsTime().After(found.GetCreateTime().AsTime()) {
			found = j
		}
	}
	if found == nil {
		return "", nil
	}
	return found.GetName(), nil
}

// PollBatch reads a job's state once. SUCCEEDED and PARTIALLY_SUCCEEDED are
// done with the output directory the job reported; FAILED, CANCELLED and
// EXPIRED are done with Err carrying the job's error.
func (b *Backend) PollBatch(ctx context.Context, job string) (predictor.BatchStatus, error) {
	j, err := b.jobs.GetBatchPredictionJob(ctx, &aiplatformpb.GetBatchPredictionJobRequest{Name: job})
	if err != nil {
		return predictor.BatchStatus{}, callErr("get batch prediction job "+job, err)
	}
	st := predictor.BatchStatus{State: j.GetState().String(), OutputDir: j.GetOutputInfo().GetGcsOutputDirectory()}
	switch j.GetState() {
	case aiplatformpb.JobState_JOB_STATE_SUCCEEDED, aiplatformpb.JobState_JOB_STATE_PARTIALLY_SUCCEEDED:
		st.Done = true
		if st.OutputDir == "" {
			st.Err = fmt.Errorf("vertex: batch job %s %s without an output directory", job, st.State)
		}
	case aiplatformpb.JobState_JOB_STATE_FAILED, aiplatformpb.JobState_JOB_STATE_CANCELLED, aiplatformpb.JobState_JOB_STATE_EXPIRED:
		st.Done = true
		msg := j.GetError().GetMessage()
		if msg == "" {
			msg = "no error message"
		}
		st.Err = fmt.Errorf("vertex: batch job %s %s: %s (code %d)", job, st.State, msg, j.GetError().GetCode())
	}
	return st, nil
}
