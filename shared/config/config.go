// Package config holds the one typed configuration every dropcast function and
// command reads. Values come from environment variables (set by Terraform in
// production and by the local stack offline); Validate reports every problem at once.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Config is the whole runtime configuration. Each field names its environment
// variable in the env tag; default gives the value used when it is unset, and
// required marks the ones Validate insists on.
type Config struct {
	// Project is the Google Cloud project that owns the pipeline's resources.
	Project string `env:"DROPCAST_PROJECT" required:"true"`
	// Region is where the functions, queue and Vertex AI calls live.
	Region string `env:"DROPCAST_REGION" default:"us-central1"`

	// InboxBucket is where users drop files; events from other buckets are ignored.
	InboxBucket string `env:"DROPCAST_INBOX_BUCKET" required:"true"`
	// StateBucket holds run records (runs/RUN.json) and pipeline specs.
	StateBucket string `env:"DROPCAST_STATE_BUCKET" required:"true"`
	// WorkBucket holds clean parts, rejects and prediction outputs.
	WorkBucket string `env:"DROPCAST_WORK_BUCKET" required:"true"`
	// ResultsBucket receives the results CSVs.
	ResultsBucket string `env:"DROPCAST_RESULTS_BUCKET" required:"true"`
	// Specs is where pipeline specs are read from: gs://BUCKET/PREFIX/ or a local directory.
	Specs string `env:"DROPCAST_SPECS" required:"true"`

	// TasksQueue is the full Cloud Tasks queue name, projects/P/locations/L/queues/Q.
	TasksQueue string `env:"DROPCAST_TASKS_QUEUE" required:"true"`
	// StepBaseURL is the URL prefix of the step functions; a step is called at StepBaseURL/STEP.
	StepBaseURL string `env:"DROPCAST_STEP_BASE_URL" required:"true"`
	// InvokerServiceAccount signs the OIDC token Cloud Tasks sends to the steps; empty sends none.
	InvokerServiceAccount string `env:"DROPCAST_INVOKER_SA"`
	// BigQueryLocation is where the datasets live and so where query jobs
	// run and are looked up; empty uses BigQuery's default (US).
	BigQueryLocation string `env:"DROPCAST_BIGQUERY_LOCATION"`
	// EventsTopic is the Pub/Sub topic ID run events are published to; empty disables events.
	EventsTopic string `env:"DROPCAST_EVENTS_TOPIC"`

	// StepTimeout is the functions' own timeout.
	StepTimeout time.Duration `env:"DROPCAST_STEP_TIMEOUT" default:"10m"`
	// DispatchDeadline is the Cloud Tasks dispatch deadline of step tasks (15s to 30m).
	DispatchDeadline time.Duration `env:"DROPCAST_DISPATCH_DEADLINE" default:"10m"`
	// SafetyMargin is kept free at the end of a step's budget to checkpoint and enqueue.
	SafetyMargin time.Duration `env:"DROPCAST_SAFETY_MARGIN" default:"30s"`
	// PollInterval is how long a step waits before polling a job or operation again.
	PollInterval time.Duration `env:"DROPCAST_POLL_INTERVAL" default:"30s"`
	// MaxAttempts is the queue's max attempts; the last failing attempt fails the run.
	MaxAttempts int `env:"DROPCAST_MAX_ATTEMPTS" default:"10"`

	// SweepLookback is how far back the sweeper looks for inbox files whose
	// event was lost (by upload time).
	SweepLookback time.Duration `env:"DROPCAST_SWEEP_LOOKBACK" default:"24h"`
	// UndeployGrace is how long a deployed model may sit with no run holding
	// it before the sweeper undeploys it.
	UndeployGrace time.Duration `env:"DROPCAST_UNDEPLOY_GRACE" default:"15m"`

	// Endpoints of local emulators. Empty means the real Google service.
	StorageEndpoint  string `env:"DROPCAST_STORAGE_ENDPOINT"`
	TasksEndpoint    string `env:"DROPCAST_TASKS_ENDPOINT"`
	BigQueryEndpoint string `env:"DROPCAST_BIGQUERY_ENDPOINT"`
	PubSubEndpoint   string `env:"DROPCAST_PUBSUB_ENDPOINT"`
	VertexEndpoint   string `env:"DROPCAST_VERTEX_ENDPOINT"`
	AutoMLEndpoint   string `env:"DROPCAST_AUTOML_ENDPOINT"`
	// EmulatorIdentity is the service account the clients name to the
	// emulators, as the bearer token of every call, so that they can check
	// the call against the Terraform's IAM (the local stack gives each
	// function its own). The real services never see it.
	EmulatorIdentity string `env:"DROPCAST_EMULATOR_IDENTITY"`

	// SlackWebhookURL receives Slack notifications; a secret, never logged.
	SlackWebhookURL string `env:"DROPCAST_SLACK_WEBHOOK" secret:"true"`
	// WebhookURL receives every run event as JSON; a secret, never logged.
	WebhookURL string `env:"DROPCAST_WEBHOOK_URL" secret:"true"`
	// StatusURL is the status page's address, used for links in notifications.
	StatusURL string `env:"DROPCAST_STATUS_URL"`
}

// Var describes one environment variable Config reads.
type Var struct {
	Name     string
	Default  string
	Required bool
	Secret   bool
}

// Vars lists every environment variable Config reads, in field order.
func Vars() []Var {
	t := reflect.TypeFor[Config]()
	vars := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		vars = append(vars, Var{
			Name:     f.Tag.Get("env"),
			Default:  f.Tag.Get("default"),
			Required: f.Tag.Get("required") == "true",
			Secret:   f.Tag.Get("secret") == "true",
		})
	}
	return vars
}

// Default returns the configuration with every default applied and nothing
// else set (not valid until the required fields are filled in).
func Default() Config {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	for i, vr := range Vars() {
		if vr.Default != "" {
			if err := setField(v.Field(i), vr.Default); err != nil {
				panic(fmt.Sprintf("config: bad default for %s: %v", vr.Name, err))
			}
		}
	}
	return c
}

// Env lists the configuration as NAME=value for every variable that is set,
// secrets left out: what another process needs to reach the same deployment.
func (c Config) Env() []string {
	v := reflect.ValueOf(c)
	var env []string
	for i, vr := range Vars() {
		f := v.Field(i)
		if vr.Secret || f.IsZero() {
			continue
		}
		env = append(env, vr.Name+"="+fmt.Sprint(f.Interface()))
	}
	return env
}

// FromEnv reads the configuration from the environment and validates it.
func FromEnv() (Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup (os.LookupEnv or a map in
// tests), applies defaults and validates the result.
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	v := reflect.ValueOf(&c).Elem()
	var errs []error
	for i, vr := range Vars() {
		raw, ok := lookup(vr.Name)
		if !ok || raw == "" {
			raw = vr.Default
		}
		if raw == "" {
			continue
		}
		if err := setField(v.Field(i), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", vr.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func setField(f reflect.Value, raw string) error {
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
	default:
		return fmt.Errorf("unsupported config field type %s", f.Type())
	}
	return nil
}

// Validate reports every missing or inconsistent setting.
func (c Config) Validate() error {
	var errs []error
	v := reflect.ValueOf(c)
	for i, vr := range Vars() {
		if vr.Required && v.Field(i).IsZero() {
			errs = append(errs, fmt.Errorf("%s is required", vr.Name))
		}
	}
	if c.TasksQueue != "" && !validQueue(c.TasksQueue) {
		errs = append(errs, fmt.Errorf("DROPCAST_TASKS_QUEUE %q: want projects/P/locations/L/queues/Q", c.TasksQueue))
	}
	if c.DispatchDeadline < 15*time.Second || c.DispatchDeadline > 30*time.Minute {
		errs = append(errs, fmt.Errorf("DROPCAST_DISPATCH_DEADLINE %s: Cloud Tasks allows 15s to 30m", c.DispatchDeadline))
	}
	if c.SafetyMargin < 0 || c.SafetyMargin >= c.Budget()+c.SafetyMargin {
		errs = append(errs, fmt.Errorf("DROPCAST_SAFETY_MARGIN %s leaves no budget (step timeout %s, dispatch deadline %s)", c.SafetyMargin, c.StepTimeout, c.DispatchDeadline))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("DROPCAST_POLL_INTERVAL must be positive"))
	}
	if c.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("DROPCAST_MAX_ATTEMPTS must be at least 1"))
	}
	if c.StepBaseURL != "" && !strings.HasPrefix(c.StepBaseURL, "http://") && !strings.HasPrefix(c.StepBaseURL, "https://") {
		errs = append(errs, fmt.Errorf("DROPCAST_STEP_BASE_URL %q: want an http(s) URL", c.StepBaseURL))
	}
	return errors.Join(errs...)
}

// Budget is how long one step invocation may work before it must checkpoint:
// the shorter of the function timeout and the dispatch deadline, less the safety margin.
func (c Config) Budget() time.Duration {
	return min(c.StepTimeout, c.DispatchDeadline) - c.SafetyMargin
}

func validQueue(q string) bool {
	p := strings.Split(q, "/")
	return len(p) == 6 && p[0] == "projects" && p[2] == "locations" && p[4] == "queues" && p[1] != "" && p[3] != "" && p[5] != ""
}
