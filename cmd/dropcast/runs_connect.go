package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/platform"
	"github.com/dropcast/dropcast/shared/run"
)

// access is what a subcommand does with the deployment.
type access int

const (
	// readRecords reads run records: the state bucket is enough.
	readRecords access = iota
	// steer starts and re-drives runs: the whole configuration, as a function has.
	steer
)

// errConfig marks missing or invalid configuration (a usage error).
var errConfig = errors.New("configuration")

// connFlags name the deployment; each overrides its DROPCAST_* variable.
type connFlags struct {
	local                                                     bool
	project, stateBucket, inboxBucket, specs, queue, stepBase string
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.local, "local", false, "work on a fresh in-process local stack (for trying the commands out)")
	fs.StringVar(&f.project, "project", "", "Google Cloud `project` (default $DROPCAST_PROJECT)")
	fs.StringVar(&f.stateBucket, "state-bucket", "", "`bucket` of run records (default $DROPCAST_STATE_BUCKET)")
	fs.StringVar(&f.inboxBucket, "inbox-bucket", "", "inbox `bucket` (default $DROPCAST_INBOX_BUCKET)")
	fs.StringVar(&f.specs, "specs", "", "pipeline specs `location` (default $DROPCAST_SPECS)")
	fs.StringVar(&f.queue, "tasks-queue", "", "Cloud Tasks `queue`, projects/P/locations/L/queues/Q (default $DROPCAST_TASKS_QUEUE)")
	fs.StringVar(&f.stepBase, "step-base-url", "", "`URL` prefix of the step functions (default $DROPCAST_STEP_BASE_URL)")
}

// lookup reads a configuration variable: its flag when set, else the environment.
func (f connFlags) lookup(name string) (string, bool) {
	over := map[string]string{
		"DROPCAST_PROJECT": f.project, "DROPCAST_STATE_BUCKET": f.stateBucket,
		"DROPCAST_INBOX_BUCKET": f.inboxBucket, "DROPCAST_SPECS": f.specs,
		"DROPCAST_TASKS_QUEUE": f.queue, "DROPCAST_STEP_BASE_URL": f.stepBase,
	}
	if v := over[name]; v != "" {
		return v, true
	}
	return os.LookupEnv(name)
}

// connectRuns opens the deployment the flags and environment name, with
// Application Default Credentials, or a local stack with --local.
func connectRuns(stderr io.Writer) func(ctx context.Context, f connFlags, need access) (*app.App, func(), error) {
	log := logging.New(stderr, slog.LevelWarn)
	return func(ctx context.Context, f connFlags, need access) (*app.App, func(), error) {
		if f.local {
			s, err := localstack.Start(ctx, localstack.Options{})
			if err != nil {
				return nil, nil, fmt.Errorf("start the local stack: %w", err)
			}
			fmt.Fprintf(stderr, "local stack up: status page %s/\n", s.Config.StatusURL)
			return s.App, s.Close, nil
		}
		cfg, err := config.FromLookup(f.lookup)
		if need == steer {
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", errConfig, err)
			}
			a, err := app.New(ctx, cfg, app.Options{Log: log})
			if err != nil {
				return nil, nil, fmt.Errorf("connect: %w", err)
			}
			return a, a.Close, nil
		}
		// Reading records needs the state bucket only (and a project for the clients).
		var missing []error
		if cfg.StateBucket == "" {
			missing = append(missing, errors.New("DROPCAST_STATE_BUCKET (--state-bucket) is required"))
		}
		if cfg.Project == "" {
			missing = append(missing, errors.New("DROPCAST_PROJECT (--project) is required"))
		}
		if err := errors.Join(missing...); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errConfig, err)
		}
		clients, err := platform.Connect(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("connect: %w", err)
		}
		a := &app.App{Config: cfg, Clients: clients, Runs: run.NewStore(clients.Storage, cfg.StateBucket), Log: log}
		return a, func() { clients.Close() }, nil
	}
}
