// Package automl is the predictor.Backend for AutoML v1beta1 Tables models,
// the service of the original design (AutoML Tables was shut down on
// 2024-03-31; Vertex AI is the default backend). It talks to the service only
// through the official clients: automl.Client (models, deployment, and its
// LROClient for google.longrunning.Operations) and automl.PredictionClient.
//
// Nothing here waits on a long-running operation: StartBatch, Deploy and
// Undeploy return operation names, and PollBatch and PollOperation check them
// once with GetOperation.
package automl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	automl "cloud.google.com/go/automl/apiv1beta1"
	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/predictor"
	"google.golang.org/api/option"
)

// Config configures a Backend.
type Config struct {
	// Storage reads and writes batch markers and prediction files. Required.
	Storage *storage.Client
	// Target is the model's target column display name. OpenOutput uses it
	// to find the <target>_<class>_score columns (without it, it infers the
	// target from them) and WriteOutput to name them (without it, it uses
	// the target of the model last used by Predict).
	Target string
	// Concurrency bounds Predict calls in flight per Predict (default 8).
	Concurrency int
	// ClaimTimeout is how long a batch start claimed by another caller is
	// awaited before this one takes it over (default 10 minutes).
	ClaimTimeout time.Duration
}

// Backend is the AutoML Tables predictor.Backend. It is safe for concurrent use.
type Backend struct {
	cfg    Config
	models *automl.Client
	pred   *automl.PredictionClient

	mu     sync.Mutex
	tables map[string]*tablesModel // by model name: metadata that never changes
	names  map[string]string       // model name as given -> as the service names it
	target string                  // the target of the model last used by Predict
}

var _ predictor.Backend = (*Backend)(nil)

// New creates the AutoML clients once; opts apply to both.
func New(ctx context.Context, cfg Config, opts ...option.ClientOption) (*Backend, error) {
	if cfg.Storage == nil {
		return nil, errors.New("automl: Config.Storage is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.ClaimTimeout <= 0 {
		cfg.ClaimTimeout = 10 * time.Minute
	}
	models, err := automl.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("automl: new client: %w", err)
	}
	pred, err := automl.NewPredictionClient(ctx, opts...)
	if err != nil {
		models.Close()
		return nil, fmt.Errorf("automl: new prediction client: %w", err)
	}
	return &Backend{cfg: cfg, models: models, pred: pred, tables: map[string]*tablesModel{}, names: map[string]string{}}, nil
}

// Close closes both clients.
func (b *Backend) Close() error {
	return errors.Join(b.pred.Close(), b.models.Close())
}

// tablesModel is what Predict needs of a model.
type tablesModel struct {
	target   *automlpb.ColumnSpec
	features []*automlpb.ColumnSpec
}

// tablesInfo returns a model's (cached) Tables metadata.
func (b *Backend) tablesInfo(ctx context.Context, name string) (*tablesModel, error) {
	b.mu.Lock()
	t, ok := b.tables[name]
	b.mu.Unlock()
	if ok {
		return t, nil
	}
	m, err := b.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
	if err != nil {
		return nil, fmt.Errorf("automl: get model %s: %w", name, err)
	}
	md := m.GetTablesModelMetadata()
	if md == nil || len(md.GetInputFeatureColumnSpecs()) == 0 {
		return nil, fmt.Errorf("automl: model %s is not a Tables model with input feature columns", name)
	}
	t = &tablesModel{target: md.GetTargetColumnSpec(), features: md.GetInputFeatureColumnSpecs()}
	b.mu.Lock()
	b.tables[name] = t
	b.mu.Unlock()
	return t, nil
}

// serviceName is model's name as the service itself answers with it (the
// project by number, where model may name it by ID); it never changes, so it
// is read once with GetModel.
func (b *Backend) serviceName(ctx context.Context, model string) (string, error) {
	b.mu.Lock()
	name, ok := b.names[model]
	b.mu.Unlock()
	if ok {
		return name, nil
	}
	m, err := b.models.GetModel(ctx, &automlpb.GetModelRequest{Name: model})
	if err != nil {
		return "", fmt.Errorf("get model %s: %w", model, err)
	}
	b.rememberName(model, m.GetName())
	return m.GetName(), nil
}

// rememberName records the service's name of model.
func (b *Backend) rememberName(model, name string) {
	if name == "" {
		return
	}
	b.mu.Lock()
	b.names[model] = name
	b.mu.Unlock()
}

// locationOf is projects/P/locations/L of a model name.
func locationOf(model string) (string, error) {
	parts := strings.Split(model, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "models" || parts[5] == "" {
		return "", fmt.Errorf("automl: model %q is not projects/P/locations/L/models/M", model)
	}
	return strings.Join(parts[:4], "/"), nil
}

// locationOfOperation is projects/P/locations/L of an operation name.
func locationOfOperation(op string) (string, error) {
	parts := strings.Split(op, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "operations" {
		return "", fmt.Errorf("automl: operation %q is not projects/P/locations/L/operations/O", op)
	}
	return strings.Join(parts[:4], "/"), nil
}
