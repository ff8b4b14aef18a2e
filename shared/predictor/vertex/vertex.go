// Package vertex is the Vertex AI predictor backend: batch prediction jobs
// for the batch path and an endpoint per model for online prediction, all
// through the aiplatform v1 clients, with outputs in Cloud Storage.
//
// Nothing here waits on a long-running operation: StartBatch, Deploy and
// Undeploy return a name that the caller stores and polls (PollBatch,
// PollOperation) in later invocations. The one exception is creating a
// model's endpoint, which Deploy polls briefly because the deployment
// needs the endpoint to exist.
package vertex

import (
	"context"
	"errors"
	"fmt"

	aiplatform "cloud.google.com/go/aiplatform/apiv1"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/predictor"
)

// Config configures a Backend.
type Config struct {
	// Project and Location are where models live; Location also picks the
	// regional API endpoint, LOCATION-aiplatform.googleapis.com:443.
	Project  string
	Location string
	// Storage reads and writes prediction files. Required; not closed by Close.
	Storage *storage.Client
	// MachineType and Replicas size online deployments
	// (default n1-standard-2, 1 replica).
	MachineType string
	Replicas    int32
	// MaxInstances caps the instances of one online Predict call; Predict
	// splits larger inputs (default 100).
	MaxInstances int
}

// The compiler checks that Backend implements the contract.
var _ predictor.Backend = (*Backend)(nil)

// Backend implements predictor.Backend with Vertex AI.
type Backend struct {
	cfg       Config
	jobs      *aiplatform.JobClient
	models    *aiplatform.ModelClient
	endpoints *aiplatform.EndpointClient
	predict   *aiplatform.PredictionClient
}

// New creates the Vertex AI clients. Options are applied after the regional
// endpoint, so option.WithEndpoint (e.g. for an emulator) overrides it.
func New(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Backend, error) {
	if cfg.Project == "" || cfg.Location == "" {
		return nil, errors.New("vertex: config needs Project and Location")
	}
	if cfg.Storage == nil {
		return nil, errors.New("vertex: config needs a Storage client")
	}
	if cfg.MachineType == "" {
		cfg.MachineType = "n1-standard-2"
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = 100
	}
	all := append([]option.ClientOption{option.WithEndpoint(cfg.Location + "-aiplatform.googleapis.com:443")}, opts...)
	b := &Backend{cfg: cfg}
	var err error
	if b.jobs, err = aiplatform.NewJobClient(ctx, all...); err != nil {
		return nil, fmt.Errorf("vertex: job client: %w", err)
	}
	if b.models, err = aiplatform.NewModelClient(ctx, all...); err != nil {
		b.Close()
		return nil, fmt.Errorf("vertex: model client: %w", err)
	}
	if b.endpoints, err = aiplatform.NewEndpointClient(ctx, all...); err != nil {
		b.Close()
		return nil, fmt.Errorf("vertex: endpoint client: %w", err)
	}
	if b.predict, err = aiplatform.NewPredictionClient(ctx, all...); err != nil {
		b.Close()
		return nil, fmt.Errorf("vertex: prediction client: %w", err)
	}
	return b, nil
}

// Close closes the Vertex AI clients (not the storage client).
func (b *Backend) Close() error {
	var errs []error
	closeClient := func(ok bool, close func() error) {
		if ok {
			if err := close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	closeClient(b.jobs != nil, func() error { return b.jobs.Close() })
	closeClient(b.models != nil, func() error { return b.models.Close() })
	closeClient(b.endpoints != nil, func() error { return b.endpoints.Close() })
	closeClient(b.predict != nil, func() error { return b.predict.Close() })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vertex: close: %w", err)
	}
	return nil
}
