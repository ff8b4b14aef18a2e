// Package vertexemu runs an in-process Vertex AI (v1) emulator: one gRPC
// server on loopback serving ModelService, JobService (batch prediction),
// EndpointService, PredictionService and google.longrunning.Operations, so the
// real aiplatform clients work against it unchanged. Models are any
// model.Predictor — classifiers with two or more classes, and regressions;
// batch jobs read CSV input from and write their output to Cloud Storage
// through the given storage client (gcsemu in tests).
//
// Batch output follows the Vertex AI layout for tabular models. A job with
// gcs_destination.output_uri_prefix PREFIX writes into the directory
//
//	PREFIX/prediction-<model display name>-<create time as YYYY-MM-DDThh:mm:ss.sssZ>
//
// (reported as output_info.gcs_output_directory) the files
//
//	predictions_1.csv, predictions_2.csv, ...
//	errors_1.csv, ...                      (only when some rows failed)
//
// Each predictions file is a CSV with a header row: the input columns, in
// the input's order, then for a classifier one column <target>_<class>_score
// per class (returned_false_score, returned_true_score), for a regression one
// column predicted_<target> holding the value (format.go cites the
// documents). Each errors file has the input columns then a column error
// holding a google.rpc.Status with only code and message:
//
//	{"code":3,"message":"model: column \"price\" is missing or empty"}
//
// A job whose input lacks a column the model reads fails, naming the
// columns. Online Predict answers each instance with {"classes":[...],
// "scores":[...]} or {"value":x,"lower_bound":x,"upper_bound":x}, as a
// protobuf Struct; an instance lacking a model column fails the request.
package vertexemu

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/storage"
	"google.golang.org/grpc"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/model"
)

// BigQueryReader reads a whole table, bq://project.dataset.table, as a
// header and string rows. It lets batch jobs take a bigquery_source.
type BigQueryReader func(ctx context.Context, uri string) (header []string, rows [][]string, err error)

// Options configure an emulator.
type Options struct {
	// Project and Location name the emulated location (defaults
	// "dropcast-emu" and "us-central1"). Requests may name the project by
	// ID or by ProjectNumber; like Vertex AI, every name the emulator
	// answers with carries the number (default: 12 digits derived from
	// Project).
	Project       string
	ProjectNumber string
	Location      string
	// Storage reads batch inputs and writes batch outputs. Required for
	// batch jobs with Cloud Storage input or output.
	Storage *storage.Client
	// Models are the registered models by model ID, served as
	// projects/P/locations/L/models/ID with the ID as display name.
	Models map[string]model.Predictor
	// BigQuery, if set, reads bigquery_source inputs; without it batch jobs
	// with BigQuery input are rejected with FailedPrecondition.
	BigQuery BigQueryReader
	// JobLatency is how long a batch job takes at least, from creation to
	// its final state; the first third of it is spent PENDING.
	JobLatency time.Duration
	// DeployLatency is how long a DeployModel operation runs;
	// UndeployLatency likewise for UndeployModel.
	DeployLatency   time.Duration
	UndeployLatency time.Duration
	// PredictBaseLatency + n*PredictPerRowLatency is how long an online
	// Predict of n instances takes.
	PredictBaseLatency   time.Duration
	PredictPerRowLatency time.Duration
	// RowsPerFile caps the rows of each predictions_/errors_ file
	// (default 100000).
	RowsPerFile int
	// Authorizer, if set, checks every call's identity
	// (iamemu.IdentityFromGRPC) for the permission Vertex AI documents for
	// the method (see iamRules) on projects/Project; a refusal is
	// PERMISSION_DENIED naming the permission. Nil: no checks.
	Authorizer iamemu.Authorizer
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	aiplatformpb.UnimplementedModelServiceServer
	aiplatformpb.UnimplementedJobServiceServer
	aiplatformpb.UnimplementedEndpointServiceServer
	aiplatformpb.UnimplementedPredictionServiceServer
	longrunningpb.UnimplementedOperationsServer

	opts    Options
	started time.Time
	grpc    *grpc.Server
	addr    string
	ctx     context.Context
	cancel  context.CancelFunc
	work    sync.WaitGroup

	mu        sync.Mutex
	faults    faultState
	jobs      map[string]*job
	jobOrder  []string
	endpoints map[string]*endpoint
	ops       map[string]*operation
	nextID    int64
	stats     stats
	closed    bool
}

// Start listens on 127.0.0.1 at a free port and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Project == "" {
		opts.Project = "dropcast-emu"
	}
	if opts.ProjectNumber == "" {
		opts.ProjectNumber = projectNumber(opts.Project)
	}
	if opts.Location == "" {
		opts.Location = "us-central1"
	}
	if opts.RowsPerFile <= 0 {
		opts.RowsPerFile = 100000
	}
	for id, m := range opts.Models {
		if m == nil {
			return nil, fmt.Errorf("vertexemu: model %q is nil", id)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("vertexemu: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		started:   time.Now().UTC(),
		addr:      ln.Addr().String(),
		ctx:       ctx,
		cancel:    cancel,
		faults:    newFaultState(Faults{}),
		jobs:      map[string]*job{},
		endpoints: map[string]*endpoint{},
		ops:       map[string]*operation{},
		nextID:    1000,
	}
	s.grpc = grpc.NewServer(grpc.ChainUnaryInterceptor(s.authorize(), s.injectServerErrors))
	aiplatformpb.RegisterModelServiceServer(s.grpc, s)
	aiplatformpb.RegisterJobServiceServer(s.grpc, s)
	aiplatformpb.RegisterEndpointServiceServer(s.grpc, s)
	aiplatformpb.RegisterPredictionServiceServer(s.grpc, s)
	longrunningpb.RegisterOperationsServer(s.grpc, s)
	// Serve returns only once Close stops the server.
	go func() { _ = s.grpc.Serve(ln) }()
	return s, nil
}

// Addr is the host:port for option.WithEndpoint.
func (s *Server) Addr() string { return s.addr }

// Project is the emulated project's ID.
func (s *Server) Project() string { return s.opts.Project }

// ProjectNumber is the emulated project's number, which every resource
// name the emulator answers with carries.
func (s *Server) ProjectNumber() string { return s.opts.ProjectNumber }

// Location is the emulated location.
func (s *Server) Location() string { return s.opts.Location }

// ModelName is the resource name of the registered model id, as Vertex AI
// answers it (with the project number).
func (s *Server) ModelName(id string) string { return s.parent() + "/models/" + id }

// Close stops serving, stops running jobs and pending operations, and waits
// for them to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, op := range s.ops {
		if op.timer != nil {
			op.timer.Stop()
		}
	}
	s.mu.Unlock()
	s.grpc.Stop()
	s.cancel()
	s.work.Wait()
	return nil
}

// parent is projects/NUMBER/locations/L.
func (s *Server) parent() string {
	return "projects/" + s.opts.ProjectNumber + "/locations/" + s.opts.Location
}

// newID returns a fresh numeric resource ID; callers hold s.mu.
func (s *Server) newID() string {
	s.nextID++
	return fmt.Sprint(s.nextID)
}
