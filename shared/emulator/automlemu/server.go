// Package automlemu is an in-process emulator of the AutoML v1beta1 API for
// Tables models. One gRPC server on loopback serves the AutoMl service (models
// and their deployment), the PredictionService (online Predict and
// BatchPredict) and google.longrunning.Operations, so the real Go clients
// (automl.NewClient, automl.NewPredictionClient and their LROClient) work
// against it unchanged.
//
// Resource names carry the project number (Options.ProjectNumber), whether a
// request named the project by ID or by number, as AutoML's names do.
//
// Models are model.Predictor values registered by ID: classifiers of two or
// more classes (a CATEGORY target) and regressions (a FLOAT64 target). Their
// input feature column specs are the model's columns, in Columns order;
// online Predict takes one row per call, as AutoML Tables did, with values in
// that order (or in the order of the row's column_spec_ids), and answers one
// Tables annotation per class (value and score) or, for a regression, one
// holding the value and a prediction_interval. BatchPredict reads CSV files
// from Cloud Storage (through Options.Storage) and writes the AutoML Tables
// output layout: <prefix>/prediction-<model display name>-<timestamp>/
// tables_N.csv (the input columns, then <target>_<class>_score per class or
// predicted_<target>) and errors_N.csv; input lacking a model column fails
// the operation, naming the columns.
package automlemu

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/model"
	"google.golang.org/grpc"
)

// Options configure a Server.
type Options struct {
	// Project and Location name the resources (defaults "p" and "us-central1").
	// Requests may name the project by this ID or by ProjectNumber; every
	// name the emulator answers with carries ProjectNumber, as AutoML's do.
	Project  string
	Location string
	// ProjectNumber is the project's number (default: 12 digits derived
	// from Project, so that it differs from the ID).
	ProjectNumber string
	// Models are the servable models by ID; each starts UNDEPLOYED.
	Models map[string]model.Predictor
	// DisplayNames optionally names models (default "model_<ID>"); the name
	// appears in batch output directories.
	DisplayNames map[string]string
	// Storage reads batch inputs and writes batch outputs.
	Storage *storage.Client
	// BigQuery, when set, reads a bq://project.dataset.table batch input as a
	// header and rows; without it BigQuery input is FailedPrecondition.
	BigQuery func(ctx context.Context, uri string) (header []string, rows [][]string, err error)
	// DeployLatency is how long a deploy or undeploy operation runs.
	DeployLatency time.Duration
	// JobLatency is the least time a batch prediction operation runs.
	JobLatency time.Duration
	// PredictBaseLatency + n*PredictPerRowLatency is one Predict call's
	// latency for n rows; Tables Predict always has n = 1.
	PredictBaseLatency   time.Duration
	PredictPerRowLatency time.Duration
	// RowsPerFile splits batch output into tables_1.csv, tables_2.csv, ...
	// of at most this many rows (0: one file).
	RowsPerFile int
	// Authorizer, if set, checks every call's identity
	// (iamemu.IdentityFromGRPC) for the permission AutoML documents for the
	// method (see iamRules) on projects/Project; a refusal is
	// PERMISSION_DENIED naming the permission. Nil: no checks.
	Authorizer iamemu.Authorizer
}

// Server is a running emulator. Its methods are safe for concurrent use.
type Server struct {
	st  *state
	lis net.Listener
	srv *grpc.Server
}

// Start serves the emulator on 127.0.0.1 at a free port.
func Start(opts Options) (*Server, error) {
	if opts.Project == "" {
		opts.Project = "p"
	}
	if opts.Location == "" {
		opts.Location = "us-central1"
	}
	if opts.ProjectNumber == "" {
		opts.ProjectNumber = projectNumber(opts.Project)
	}
	if strings.Trim(opts.ProjectNumber, "0123456789") != "" {
		return nil, fmt.Errorf("automlemu: project number %q is not a number", opts.ProjectNumber)
	}
	st, err := newState(opts)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.close()
		return nil, fmt.Errorf("automlemu: listen: %w", err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(st.authorize()))
	automlpb.RegisterAutoMlServer(srv, &autoMLService{st: st})
	automlpb.RegisterPredictionServiceServer(srv, &predictionService{st: st})
	longrunningpb.RegisterOperationsServer(srv, &operationsService{st: st})
	// Serve returns when Close stops the server; there is no one to tell.
	go func() { _ = srv.Serve(lis) }()
	return &Server{st: st, lis: lis, srv: srv}, nil
}

// Addr is the host:port for option.WithEndpoint.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Parent is projects/PROJECT/locations/LOCATION, naming the project by ID
// as a user writes it (the emulator answers with the project number).
func (s *Server) Parent() string {
	return "projects/" + s.st.opts.Project + "/locations/" + s.st.opts.Location
}

// ModelName is the resource name of the model with this ID as a user writes
// it, with the project ID; the emulator's answers name it with the number.
func (s *Server) ModelName(id string) string { return s.Parent() + "/models/" + id }

// ProjectNumber is the project number that resource names carry.
func (s *Server) ProjectNumber() string { return s.st.opts.ProjectNumber }

// Close stops serving and ends running operations.
func (s *Server) Close() error {
	s.srv.Stop()
	s.st.close()
	return nil
}

// DeployedModels is how many models are DEPLOYED now.
func (s *Server) DeployedModels() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	n := 0
	for _, m := range s.st.models {
		if m.deployed {
			n++
		}
	}
	return n
}

// DeployedTime is how long model id has been DEPLOYED in total, up to now.
func (s *Server) DeployedTime(id string) time.Duration {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	m, ok := s.st.models[id]
	if !ok {
		return 0
	}
	d := m.deployedTotal
	if m.deployed {
		d += time.Since(m.deployedSince)
	}
	return d
}

// PredictCalls is how many online Predict calls arrived.
func (s *Server) PredictCalls() int64 {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.predictCalls
}

// PredictRows is how many rows online Predict calls answered with a prediction.
func (s *Server) PredictRows() int64 {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.predictRows
}

// BatchJobs is how many BatchPredict operations were started.
func (s *Server) BatchJobs() int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return s.st.batchJobs
}

// state is everything the three services share.
type state struct {
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	models       map[string]*modelState
	ops          map[string]*operation
	opOrder      []string
	nextOp       int
	faults       faultState
	predictCalls int64
	predictRows  int64
	batchJobs    int
}

func newState(opts Options) (*state, error) {
	st := &state{opts: opts, models: map[string]*modelState{}, ops: map[string]*operation{}}
	for id, m := range opts.Models {
		if m == nil {
			return nil, fmt.Errorf("automlemu: model %q is nil", id)
		}
		if m.Task() == model.Classification && len(m.Classes()) < 2 {
			return nil, fmt.Errorf("automlemu: classification model %q has %d classes, want at least 2", id, len(m.Classes()))
		}
		display := opts.DisplayNames[id]
		if display == "" {
			display = "model_" + id
		}
		st.models[id] = &modelState{id: id, display: display, m: m, created: time.Now().UTC()}
	}
	st.ctx, st.cancel = context.WithCancel(context.Background())
	st.faults.set(Faults{})
	return st, nil
}

func (st *state) close() {
	st.cancel()
	st.wg.Wait()
}

// parent is projects/NUMBER/locations/LOCATION: the form of every name the
// emulator answers with.
func (st *state) parent() string {
	return "projects/" + st.opts.ProjectNumber + "/locations/" + st.opts.Location
}

// canonical is name with the project named by number: requests may name it
// by ID or by number.
func (st *state) canonical(name string) string {
	if rest, ok := strings.CutPrefix(name, "projects/"+st.opts.Project+"/"); ok {
		return "projects/" + st.opts.ProjectNumber + "/" + rest
	}
	return name
}

// projectNumber derives a fixed 12-digit project number from a project ID.
func projectNumber(project string) string {
	h := fnv.New64a()
	h.Write([]byte(project))
	return strconv.FormatUint(100000000000+h.Sum64()%900000000000, 10)
}

func (st *state) modelName(id string) string { return st.parent() + "/models/" + id }
