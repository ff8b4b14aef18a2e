package automl

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
	"google.golang.org/grpc/codes"
)

// StartBatch starts a BatchPredict operation writing under
// <OutputPrefix>/<Key>/ and returns its name. InputURIs may hold "*"
// wildcards: they are expanded into full object paths before the call (see
// resolveInput), as AutoML takes no wildcards. It is idempotent in req.Key
// through a marker object at <OutputPrefix>/<Key>/automl-batch-operation.json
// (see marker.go): AutoML operations carry no caller labels, so the service
// alone cannot say which operation belongs to a key.
func (b *Backend) StartBatch(ctx context.Context, req predictor.BatchRequest) (string, error) {
	if req.Key == "" || strings.ContainsAny(req.Key, "/*?[]") {
		return "", fmt.Errorf("automl: batch key %q must be non-empty and free of / * ? [ ]", req.Key)
	}
	if _, err := locationOf(req.Model); err != nil {
		return "", err
	}
	if _, _, err := gcsuri.Split(req.OutputPrefix); err != nil {
		return "", fmt.Errorf("automl: batch %s: output prefix: %w", req.Key, err)
	}
	in := &automlpb.BatchPredictInputConfig{}
	switch {
	case len(req.InputURIs) > 0 && req.BigQuerySource != "":
		return "", fmt.Errorf("automl: batch %s: give InputURIs or BigQuerySource, not both", req.Key)
	case len(req.InputURIs) > 0:
		in.Source = &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: req.InputURIs}}
	case req.BigQuerySource != "":
		in.Source = &automlpb.BatchPredictInputConfig_BigquerySource{BigquerySource: &automlpb.BigQuerySource{InputUri: req.BigQuerySource}}
	default:
		return "", fmt.Errorf("automl: batch %s: no input", req.Key)
	}
	out := strings.TrimRight(req.OutputPrefix, "/") + "/" + req.Key
	return b.startOnce(ctx, batchStart{key: req.Key, model: req.Model, raw: in, output: out})
}

// batchStart is one BatchPredict call to make at most once.
type batchStart struct {
	key, model string
	raw        *automlpb.BatchPredictInputConfig // as the caller gave it (wildcards allowed)
	input      *automlpb.BatchPredictInputConfig // as sent: resolveInput(raw), set once needed
	output     string                            // gs:// prefix the service writes its directory under
}

func (b *Backend) callBatchPredict(ctx context.Context, s batchStart) (string, error) {
	op, err := b.pred.BatchPredict(ctx, &automlpb.BatchPredictRequest{
		Name:        s.model,
		InputConfig: s.input,
		OutputConfig: &automlpb.BatchPredictOutputConfig{Destination: &automlpb.BatchPredictOutputConfig_GcsDestination{
			GcsDestination: &automlpb.GcsDestination{OutputUriPrefix: s.output},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("automl: batch predict %s with %s: %w", s.key, s.model, err)
	}
	return op.Name(), nil
}

// PollBatch checks a batch operation once. State is RUNNING, SUCCEEDED,
// FAILED or CANCELLED; OutputDir is the directory the operation metadata
// reports (batch_predict_details.output_info.gcs_output_directory).
func (b *Backend) PollBatch(ctx context.Context, job string) (predictor.BatchStatus, error) {
	op, meta, err := b.getOperation(ctx, job)
	if err != nil {
		return predictor.BatchStatus{}, err
	}
	st := predictor.BatchStatus{
		Done:      op.GetDone(),
		State:     "RUNNING",
		OutputDir: meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory(),
	}
	if !st.Done {
		return st, nil
	}
	if err := operationError(op); err != nil {
		st.State, st.Err = "FAILED", err
		if codes.Code(op.GetError().GetCode()) == codes.Canceled {
			st.State = "CANCELLED"
		}
		return st, nil
	}
	st.State = "SUCCEEDED"
	if st.OutputDir == "" {
		st.Err = fmt.Errorf("automl: batch %s succeeded without an output directory in its metadata", job)
		st.State = "FAILED"
	}
	return st, nil
}
