// Package localstack runs the whole pipeline offline in one process: every
// emulator (Cloud Storage, Pub/Sub, Cloud Tasks, BigQuery, Vertex AI, AutoML)
// on loopback, and every function served over HTTP exactly as deployed, with
// the production code and the real Google clients pointed at the emulators.
// It creates what Terraform creates in production: buckets, topics, the queue,
// datasets, and the specs in the state bucket.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/automlemu"
	"github.com/dropcast/dropcast/shared/emulator/bqemu"
	"github.com/dropcast/dropcast/shared/emulator/faultproxy"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu"
	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
	"github.com/dropcast/dropcast/shared/emulator/tasksemu"
	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
)

// Names of what the stack creates.
const (
	Project       = sample.Project
	Region        = "us-central1"
	InboxBucket   = "dropcast-inbox"
	StateBucket   = "dropcast-state"
	WorkBucket    = "dropcast-work"
	ResultsBucket = "dropcast-results"
	QueueID       = "dropcast-steps"
	EventsTopic   = "dropcast-events"
	inboxTopic    = "dropcast-inbox-notifications"
)

// Options adjust the stack.
type Options struct {
	// Specs are pipeline spec files (name → YAML) put in the state bucket;
	// nil puts the sample spec.
	Specs map[string][]byte
	// Configure changes the configuration before the functions start (a
	// short budget, say).
	Configure func(*config.Config)
	// Log receives the functions' logs; nil discards them.
	Log *slog.Logger
	// OnEvent is called with every run event, as a subscriber to the events topic.
	OnEvent func(events.Event)
	// Latency is how long emulated jobs and deployments take (default 200ms).
	Latency time.Duration
	// TaskFaults injects faults into Cloud Tasks (duplicate deliveries…).
	TaskFaults tasksemu.Faults
	// LoseEvent, when it returns true for an inbox object, drops its storage
	// event before ingest sees it, as a lost notification would.
	LoseEvent func(object string) bool
	// Chaos injects a seeded mix of faults (see ChaosFor); nil injects none.
	Chaos *Chaos
	// NoIAM turns off IAM enforcement: by default every emulator checks
	// each function's calls against the roles infra/iam.tf grants its
	// service account, and refuses what they do not allow.
	NoIAM bool
	// IAMTerraform replaces infra/iam.tf as the source of the grants (a
	// test's edited copy); nil reads infra/iam.tf.
	IAMTerraform []byte
	// Models are served by the Vertex AI and AutoML emulators, by model
	// ID, as projects/dropcast-local/locations/us-central1/models/ID,
	// besides the demo model (sample.ModelID), which an entry of that ID
	// replaces. Nil serves only the demo model.
	Models map[string]model.Predictor
	// Processes runs each function as its own process (processes.go), as
	// Cloud Run does: a build of ./cmd/functions per function, configured
	// by environment variables as deployed, behind the stack's URL. Chaos
	// cannot be combined with it (its crashes are in-process kernel hooks).
	Processes bool
	// FunctionsBinary is a build of ./cmd/functions for Processes; empty
	// builds one with the go command from the repository the current
	// directory is in.
	FunctionsBinary string
}

// Functions are the functions the stack serves, each as its own App with
// the identity Terraform gives it (infra/iam.tf's accounts).
var Functions = []string{"ingest", "preprocess", "load", "predict", "postprocess", "export", "trigger", "notify", "sweep", "status"}

// Stack is a running local deployment.
type Stack struct {
	Config config.Config
	// App is the developer's: provisioning, the command line and tests use
	// it, with no identity (an owner of the local project).
	App *app.App
	// Apps are the functions', by name (Functions), each calling the
	// emulators as its own service account.
	Apps map[string]*app.App
	// Identities are the service accounts of infra/iam.tf by account name
	// (the functions', the invoker's, the builder's).
	Identities map[string]string
	// IAM is the policy the emulators enforce: what each function was
	// allowed and refused is in its Usage. Nil with Options.NoIAM.
	IAM     *iamemu.Policy
	GCS     *gcsemu.Server
	PubSub  *pubsubemu.Server
	Tasks   *tasksemu.Server
	BQ      *bqemu.Server
	Vertex  *vertexemu.Server
	AutoML  *automlemu.Server
	Storage *storage.Client
	// URL is where the functions are served: URL/preprocess…
	URL string
	// StorageProxy stands between the functions and the storage emulator
	// in chaos mode.
	StorageProxy *faultproxy.Proxy

	crasher *crasher
	procs   *processes // Options.Processes

	http    *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func()
}

// Start brings the stack up; Close takes it down.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Latency == 0 {
		opts.Latency = 200 * time.Millisecond
	}
	if opts.Specs == nil {
		opts.Specs = map[string][]byte{sample.SpecName: sample.Spec}
	}
	if opts.Processes && opts.Chaos != nil {
		return nil, errors.New("localstack: Chaos cannot run with Processes: its crashes are kernel hooks inside the functions' process")
	}
	set, err := spec.ParseSet(opts.Specs)
	if err != nil {
		return nil, fmt.Errorf("localstack: specs: %w", err)
	}
	s := &Stack{}
	var authz iamemu.Authorizer
	if !opts.NoIAM {
		if s.IAM, s.Identities, err = policy(opts.IAMTerraform, set); err != nil {
			return nil, err
		}
		authz = authorizer{s.IAM}
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel

	if s.PubSub, err = pubsubemu.Start(ctx, Project); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.PubSub.Close)
	for _, t := range []string{inboxTopic, EventsTopic} {
		if err := s.PubSub.CreateTopic(ctx, t); err != nil {
			return nil, err
		}
	}
	if s.GCS, err = gcsemu.StartWithNotification(&gcsemu.Notification{
		PubSubHost: s.PubSub.Addr(), Project: Project, Topic: inboxTopic, Bucket: InboxBucket, Identity: storageAgent,
	}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.GCS.Close)
	for _, b := range []string{InboxBucket, StateBucket, WorkBucket, ResultsBucket} {
		s.GCS.CreateBucket(b)
	}
	if s.Storage, err = s.GCS.Client(ctx); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { s.Storage.Close() })

	if s.BQ, err = bqemu.Start(bqemu.Options{Storage: s.Storage, JobLatency: opts.Latency}); err != nil {
		return nil, fmt.Errorf("localstack: bigquery emulator: %w", err)
	}
	s.closers = append(s.closers, func() { s.BQ.Close() })
	models := ServedModels(opts.Models)
	if s.Vertex, err = vertexemu.Start(vertexemu.Options{
		Project: Project, Location: Region, Storage: s.Storage, Models: models,
		JobLatency: opts.Latency, DeployLatency: opts.Latency, UndeployLatency: opts.Latency,
		Authorizer: authz,
	}); err != nil {
		return nil, fmt.Errorf("localstack: vertex emulator: %w", err)
	}
	s.closers = append(s.closers, func() { s.Vertex.Close() })
	if s.AutoML, err = automlemu.Start(automlemu.Options{
		Project: Project, Location: Region, Storage: s.Storage, Models: models,
		JobLatency: opts.Latency, DeployLatency: opts.Latency,
		Authorizer: authz,
	}); err != nil {
		return nil, fmt.Errorf("localstack: automl emulator: %w", err)
	}
	s.closers = append(s.closers, func() { s.AutoML.Close() })
	if opts.Chaos != nil {
		opts.TaskFaults = opts.Chaos.Tasks
	}
	if s.Tasks, err = tasksemu.Start(tasksemu.Options{Faults: opts.TaskFaults, Authorizer: authz}); err != nil {
		return nil, fmt.Errorf("localstack: cloud tasks emulator: %w", err)
	}
	s.closers = append(s.closers, func() { s.Tasks.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("localstack: listen: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()

	c := config.Default()
	c.Project, c.Region = Project, Region
	c.InboxBucket, c.StateBucket, c.WorkBucket, c.ResultsBucket = InboxBucket, StateBucket, WorkBucket, ResultsBucket
	c.Specs = "gs://" + StateBucket + "/specs/"
	c.TasksQueue = "projects/" + Project + "/locations/" + Region + "/queues/" + QueueID
	c.StepBaseURL = s.URL
	c.EventsTopic = EventsTopic
	c.PollInterval = opts.Latency / 2
	c.StorageEndpoint, c.TasksEndpoint, c.BigQueryEndpoint = s.GCS.Endpoint(), s.Tasks.Addr(), s.BQ.Endpoint()
	c.PubSubEndpoint, c.VertexEndpoint, c.AutoMLEndpoint = s.PubSub.Addr(), s.Vertex.Addr(), s.AutoML.Addr()
	c.StatusURL = s.URL + "/status"
	c.EmulatorIdentity = Developer
	// Tasks carry the invoker's OIDC token, as deployed: enqueuing them
	// needs iam.serviceAccounts.actAs on it (roles/iam.serviceAccountUser).
	c.InvokerServiceAccount = s.Identities["invoker"]
	var faults kernel.Faults
	if ch := opts.Chaos; ch != nil {
		if s.StorageProxy, err = faultproxy.Start(s.GCS.URL(), ch.Storage); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, func() { s.StorageProxy.Close() })
		c.StorageEndpoint = s.StorageProxy.URL() + "/storage/v1/"
		// A short lease, so a crashed holder's step is taken over quickly,
		// and retries enough for the faults to be outlasted.
		c.SafetyMargin = 500 * time.Millisecond
		c.StepTimeout = ch.Budget + c.SafetyMargin
		c.DispatchDeadline = 15 * time.Second
		c.MaxAttempts = 100
		s.crasher = newCrasher(*ch)
		faults = s.crasher
	}
	s.Config = c
	if opts.Configure != nil {
		opts.Configure(&s.Config)
	}
	if s.App, err = app.New(ctx, s.Config, app.Options{Log: opts.Log, SpecTTL: time.Hour, Faults: faults}); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.App.Close)
	s.Apps = map[string]*app.App{}
	for _, fn := range Functions {
		c := s.Config
		if s.IAM != nil {
			c.EmulatorIdentity = s.Identities[fn]
		}
		a, err := app.New(ctx, c, app.Options{Log: opts.Log, SpecTTL: time.Hour, Faults: faults})
		if err != nil {
			return nil, fmt.Errorf("localstack: %s: %w", fn, err)
		}
		s.closers = append(s.closers, a.Close)
		s.Apps[fn] = a
	}
	if err := s.provision(ctx, opts.Specs); err != nil {
		return nil, err
	}
	if authz != nil {
		s.GCS.SetAuthorizer(authz)
		s.BQ.SetAuthorizer(authz)
		s.PubSub.SetAuthorizer(authz)
	}
	if ch := opts.Chaos; ch != nil {
		// Provisioning is Terraform's job and sees no faults; the functions do.
		s.BQ.SetFaults(ch.BigQuery)
		s.Vertex.SetFaults(ch.Vertex)
	}
	if opts.Processes {
		if s.procs, err = s.startProcesses(ctx, opts); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.procs.close)
	}

	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Log.Error("functions server stopped", "err", err)
		}
	}()
	if err := s.bridges(ctx, bg, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// CrashedAttempts is how many step attempts chaos crashes ended, by step.
func (s *Stack) CrashedAttempts() map[string]int {
	if s.crasher == nil {
		return nil
	}
	return s.crasher.CrashedAttempts()
}

// Close stops everything, newest first.
func (s *Stack) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.http.Shutdown(ctx)
		cancel()
	}
	s.wg.Wait()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// ServedModels are the models a stack started with Options.Models serves,
// by ID: the demo model as sample.ModelID, and every one of models.
func ServedModels(models map[string]model.Predictor) map[string]model.Predictor {
	served := map[string]model.Predictor{sample.ModelID: model.Demo()}
	maps.Copy(served, models)
	return served
}
