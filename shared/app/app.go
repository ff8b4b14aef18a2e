// Package app wires one dropcast process: configuration, clients, specs and the
// step kernel, created once and shared by every function the process serves.
// Functions register in init() with lazy handlers from this package, because
// every deployed function runs every function's init: nothing is built there.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
	"github.com/dropcast/dropcast/shared/taskq"
)

// App is one process's wiring.
type App struct {
	Config  config.Config
	Clients *platform.Clients
	Specs   *spec.Source
	Runs    *run.Store
	Kernel  *kernel.Kernel
	Events  events.Publisher
	Log     *slog.Logger

	predictors predictorSet
	closers    []func()
}

// Options adjust New for tests and the local stack.
type Options struct {
	Log *slog.Logger
	// Events overrides the Pub/Sub publisher.
	Events events.Publisher
	// SpecTTL is how long specs are cached (default 1 minute).
	SpecTTL time.Duration
	// Faults injects crashes into the kernel (chaos testing only).
	Faults kernel.Faults
}

// New connects the clients and builds the kernel.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = logging.New(os.Stderr, slog.LevelInfo)
	}
	clients, err := platform.Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Clients: clients, Log: log}
	a.closers = append(a.closers, func() { clients.Close() })
	a.Events = opts.Events
	if a.Events == nil && cfg.EventsTopic != "" {
		ps := events.NewPubSub(clients.PubSub, cfg.EventsTopic, log)
		a.closers = append(a.closers, ps.Stop)
		a.Events = ps
	}
	ttl := opts.SpecTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	a.Specs = spec.NewSource(clients.Storage, cfg.Specs, ttl)
	a.Runs = run.NewStore(clients.Storage, cfg.StateBucket)
	a.Kernel = kernel.New(kernel.Deps{
		Store: a.Runs,
		Queue: taskq.New(clients.Tasks, taskq.Config{
			Queue: cfg.TasksQueue, BaseURL: cfg.StepBaseURL,
			Invoker: cfg.InvokerServiceAccount, DispatchDeadline: cfg.DispatchDeadline,
		}),
		Specs:  a.Specs,
		Events: a.Events,
		Log:    log,
		Faults: opts.Faults,
		Config: kernel.Config{
			Project: cfg.Project, Budget: cfg.Budget(), SafetyMargin: cfg.SafetyMargin,
			PollInterval: cfg.PollInterval, MaxAttempts: cfg.MaxAttempts,
		},
	})
	a.predictors.app = a
	return a, nil
}

// Predictor returns the backend named in a spec (vertex or automl), created on first use.
func (a *App) Predictor(ctx context.Context, backend string) (predictor.Backend, error) {
	return a.predictors.get(ctx, backend)
}

// Close releases every client.
func (a *App) Close() {
	a.predictors.close()
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// fromEnv is the process's App in a deployed function, built on first use.
var fromEnv = sync.OnceValues(func() (*App, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return New(context.Background(), cfg, Options{})
})
