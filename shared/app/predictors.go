package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/predictor/automl"
	"github.com/dropcast/dropcast/shared/predictor/vertex"
	"github.com/dropcast/dropcast/shared/spec"
)

// predictorSet creates prediction backends on first use: most functions never need one.
type predictorSet struct {
	app *App
	mu  sync.Mutex
	m   map[string]predictor.Backend
	c   []func() error
}

func (s *predictorSet) get(ctx context.Context, backend string) (predictor.Backend, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.m[backend]; ok {
		return b, nil
	}
	// The clients outlive the request that first needs them.
	b, closer, err := newBackend(context.WithoutCancel(ctx), s.app, backend)
	if err != nil {
		return nil, err
	}
	if s.m == nil {
		s.m = map[string]predictor.Backend{}
	}
	s.m[backend] = b
	s.c = append(s.c, closer)
	return b, nil
}

func (s *predictorSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.c {
		c()
	}
	s.m, s.c = nil, nil
}

func newBackend(ctx context.Context, a *App, backend string) (predictor.Backend, func() error, error) {
	switch backend {
	case spec.Vertex:
		b, err := vertex.New(ctx, vertex.Config{Project: a.Config.Project, Location: a.Config.Region, Storage: a.Clients.Storage}, platform.GRPCEmulator(a.Config.VertexEndpoint, a.Config.EmulatorIdentity)...)
		if err != nil {
			return nil, nil, fmt.Errorf("vertex backend: %w", err)
		}
		return b, b.Close, nil
	case spec.AutoML:
		b, err := automl.New(ctx, automl.Config{Storage: a.Clients.Storage}, platform.GRPCEmulator(a.Config.AutoMLEndpoint, a.Config.EmulatorIdentity)...)
		if err != nil {
			return nil, nil, fmt.Errorf("automl backend: %w", err)
		}
		return b, b.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown prediction backend %q", backend)
}
