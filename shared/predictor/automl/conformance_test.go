package automl

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/automlemu"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu/gcsemutest"
	"github.com/dropcast/dropcast/shared/predictor"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// These tests feed the documented forms of shared/conformance/fixtures/
// automl-*.txtar to the backend through a fake AutoML service that answers
// exactly what a test gives it.

// fake is an AutoML service answering from fixtures.
type fake struct {
	automlpb.UnimplementedAutoMlServer
	automlpb.UnimplementedPredictionServiceServer
	longrunningpb.UnimplementedOperationsServer

	mu      sync.Mutex
	models  map[string]*automlpb.Model          // by the name a request uses
	ops     map[string]*longrunningpb.Operation // by name
	worksOn map[string]string                   // operation name -> model name it works on
	deploy  *longrunningpb.Operation            // what DeployModel and UndeployModel answer
	filters []string                            // ListOperations filters received
	calls   []string                            // DeployModel, UndeployModel, BatchPredict calls
	batches []*automlpb.BatchPredictRequest
}

func (f *fake) GetModel(_ context.Context, req *automlpb.GetModelRequest) (*automlpb.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.models[req.GetName()]; ok {
		return m, nil
	}
	return nil, status.Errorf(codes.NotFound, "model %s", req.GetName())
}

func (f *fake) DeployModel(_ context.Context, req *automlpb.DeployModelRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "DeployModel "+req.GetName())
	return f.deploy, nil
}

func (f *fake) UndeployModel(_ context.Context, req *automlpb.UndeployModelRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "UndeployModel "+req.GetName())
	return f.deploy, nil
}

func (f *fake) BatchPredict(_ context.Context, req *automlpb.BatchPredictRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "BatchPredict "+req.GetName())
	f.batches = append(f.batches, req)
	return &longrunningpb.Operation{Name: "projects/1/locations/us-central1/operations/B" + strconv.Itoa(len(f.batches))}, nil
}

func (f *fake) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op, ok := f.ops[req.GetName()]; ok {
		return op, nil
	}
	return nil, status.Errorf(codes.NotFound, "operation %s", req.GetName())
}

// ListOperations answers the operations whose model is exactly the one a
// "worksOn = NAME" filter names; it records every filter.
func (f *fake) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, req.GetFilter())
	model, ok := strings.CutPrefix(req.GetFilter(), "worksOn = ")
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "the fake takes worksOn = NAME, have %q", req.GetFilter())
	}
	resp := &longrunningpb.ListOperationsResponse{}
	for name, op := range f.ops {
		if f.worksOn[name] == model {
			resp.Operations = append(resp.Operations, op)
		}
	}
	return resp, nil
}

func (f *fake) CancelOperation(context.Context, *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	return nil, status.Error(codes.Unimplemented, "fake")
}

// startFake serves f and returns a backend talking to it, with a Cloud
// Storage emulator holding bucket "b".
func startFake(t *testing.T, f *fake) *Backend {
	t.Helper()
	if f.models == nil {
		f.models = map[string]*automlpb.Model{}
	}
	if f.ops == nil {
		f.ops = map[string]*longrunningpb.Operation{}
	}
	if f.worksOn == nil {
		f.worksOn = map[string]string{}
	}
	return serve(t, f, func(srv *grpc.Server) { longrunningpb.RegisterOperationsServer(srv, f) })
}

// automlServer is what a fake of the AutoML service answers.
type automlServer interface {
	automlpb.AutoMlServer
	automlpb.PredictionServiceServer
}

// serve serves f (and what more registers) and returns a backend talking
// to it, with a Cloud Storage emulator holding bucket "b".
func serve(t *testing.T, f automlServer, more func(*grpc.Server)) *Backend {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	automlpb.RegisterAutoMlServer(srv, f)
	automlpb.RegisterPredictionServiceServer(srv, f)
	if more != nil {
		more(srv)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	b, err := New(context.Background(), Config{Storage: gcsemutest.Start(t, "b")}, option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(), option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fixtureOperation(t *testing.T, fx *conformance.Fixture, file string) *longrunningpb.Operation {
	t.Helper()
	op := &longrunningpb.Operation{}
	if err := protojson.Unmarshal(fx.MustFile(t, file), op); err != nil {
		t.Fatalf("%s %s: %v", fx.Name, file, err)
	}
	return op
}

func fixtureLines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestConformanceResourceNamesProjectNumber: the model is named with the
// project ID, the service answers with the project number; the backend finds
// the running deploy by the name the service answered with.
func TestConformanceResourceNamesProjectNumber(t *testing.T) {
	fx := conformance.Load(t, "automl-resource-names-project-number")
	req := fixtureLines(fx.MustFile(t, "deploy-request.txt"))[0]
	byID := regexp.MustCompile(`projects/[^:]+`).FindString(req)
	op := fixtureOperation(t, fx, "operation.json")
	// The model's own name, as the service answers it: the operation's project.
	answered := strings.Split(op.GetName(), "/operations/")[0] + "/models/" + byID[strings.LastIndex(byID, "/")+1:]
	if answered == byID {
		t.Fatalf("fixture: %s and %s name the project alike", byID, answered)
	}
	f := &fake{deploy: op}
	f.models = map[string]*automlpb.Model{byID: {Name: answered, DeploymentState: automlpb.Model_UNDEPLOYED}}
	b := startFake(t, f)
	ctx := context.Background()

	got, err := b.Deploy(ctx, byID)
	if err != nil || got != op.GetName() {
		t.Fatalf("Deploy = %q, %v; want %q", got, err, op.GetName())
	}
	// The deploy is running: the service lists it under the name it answered.
	f.mu.Lock()
	f.ops[op.GetName()], f.worksOn[op.GetName()] = op, answered
	f.mu.Unlock()
	again, err := b.Deploy(ctx, byID)
	if err != nil || again != op.GetName() {
		t.Fatalf("Deploy while deploying = %q, %v; want %q", again, err, op.GetName())
	}
	if len(f.calls) != 1 {
		t.Fatalf("calls %v, want one DeployModel", f.calls)
	}
	for _, filter := range f.filters {
		if filter != "worksOn = "+answered {
			t.Fatalf("filter %q: want the model named as the service answered, %q", filter, answered)
		}
	}
	if done, err := b.PollOperation(ctx, op.GetName()); err != nil || done {
		t.Fatalf("PollOperation = %v, %v", done, err)
	}
}

// TestDeployByProjectIDOrNumber: a spec naming the model by project ID and
// one naming it by number both deploy once and undeploy to zero.
func TestDeployByProjectIDOrNumber(t *testing.T) {
	f := newFixture(t, automlemu.Options{DeployLatency: 20 * time.Millisecond}, Config{})
	ctx := context.Background()
	byNumber := strings.Replace(f.model, "projects/p/", "projects/"+f.emu.ProjectNumber()+"/", 1)
	for _, model := range []string{f.model, byNumber} {
		op, err := f.b.Deploy(ctx, model)
		if err != nil || op == "" {
			t.Fatalf("Deploy %s = %q, %v", model, op, err)
		}
		if again, err := f.b.Deploy(ctx, model); err != nil || again != op {
			t.Fatalf("Deploy %s while deploying = %q, %v; want %q", model, again, err, op)
		}
		if err := f.pollOp(t, op); err != nil {
			t.Fatal(err)
		}
		if again, err := f.b.Deploy(ctx, model); err != nil || again != "" {
			t.Fatalf("Deploy %s when deployed = %q, %v", model, again, err)
		}
		if f.emu.DeployedModels() != 1 {
			t.Fatalf("%d models deployed", f.emu.DeployedModels())
		}
		uop, err := f.b.Undeploy(ctx, model)
		if err != nil || uop == "" {
			t.Fatalf("Undeploy %s = %q, %v", model, uop, err)
		}
		if again, err := f.b.Undeploy(ctx, model); err != nil || again != uop {
			t.Fatalf("Undeploy %s while undeploying = %q, %v; want %q", model, again, err, uop)
		}
		if err := f.pollOp(t, uop); err != nil {
			t.Fatal(err)
		}
		if f.emu.DeployedModels() != 0 {
			t.Fatalf("after undeploying %s: %d models deployed", model, f.emu.DeployedModels())
		}
		if again, err := f.b.Undeploy(ctx, model); err != nil || again != "" {
			t.Fatalf("Undeploy %s when undeployed = %q, %v", model, again, err)
		}
	}
}

// TestConformanceGcsSourceFullObjectPath: StartBatch expands a wildcard
// into full object paths itself, in name order, before BatchPredict.
func TestConformanceGcsSourceFullObjectPath(t *testing.T) {
	fx := conformance.Load(t, "automl-gcs-source-full-object-path")
	accepted := fixtureLines(fx.MustFile(t, "accepted.txt"))[0]
	wildcard := fixtureLines(fx.MustFile(t, "refused.txt"))[0]
	const model = "projects/p/locations/us-central1/models/M"
	f := &fake{}
	f.models = map[string]*automlpb.Model{model: {Name: model}}
	b := startFake(t, f)
	ctx := context.Background()
	inB := func(uri string) string { return strings.Replace(uri, "gs://bucket/", "gs://b/", 1) }
	// Objects the documented wildcard matches (and one it does not).
	dir := inB(accepted[:strings.LastIndex(accepted, "/")+1])
	for _, name := range []string{"part-2.csv", "part-1.csv", "notes.txt"} {
		_, object, _ := strings.Cut(strings.TrimPrefix(dir+name, "gs://"), "/")
		w := b.cfg.Storage.Bucket("b").Object(object).NewWriter(ctx)
		fmt.Fprintln(w, "a,b")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.StartBatch(ctx, predictor.BatchRequest{Key: "k", Model: model, InputURIs: []string{inB(wildcard)}, OutputPrefix: "gs://b/out"}); err != nil {
		t.Fatal(err)
	}
	if len(f.batches) != 1 {
		t.Fatalf("%d BatchPredict calls", len(f.batches))
	}
	got := f.batches[0].GetInputConfig().GetGcsSource().GetInputUris()
	if want := []string{dir + "part-1.csv", dir + "part-2.csv"}; !slices.Equal(got, want) {
		t.Fatalf("input_uris = %q, want %q", got, want)
	}
	// The documented form: gs://bucket/path/object, no wildcard, <= 2000 characters.
	form := regexp.MustCompile(`^gs://[^/*]+/[^*]*[^/*]$`)
	for _, uri := range got {
		if !form.MatchString(uri) || len(uri) > 2000 {
			t.Fatalf("input URI %q is not a full object path", uri)
		}
	}
	// A wildcard that matches nothing, or a URI longer than documented,
	// fails before any call.
	for _, uri := range []string{"gs://b/none/*.csv", "gs://b/" + strings.Repeat("x", 2001)} {
		if _, err := b.StartBatch(ctx, predictor.BatchRequest{Key: "k2", Model: model, InputURIs: []string{uri}, OutputPrefix: "gs://b/out"}); err == nil {
			t.Fatalf("StartBatch %.40s... succeeded", uri)
		}
	}
	if len(f.batches) != 1 {
		t.Fatalf("%d BatchPredict calls, want 1", len(f.batches))
	}
}

// TestConformanceTablesBatchInputCSV: input files over the documented size
// limits are refused before BatchPredict.
func TestConformanceTablesBatchInputCSV(t *testing.T) {
	fx := conformance.Load(t, "automl-tables-batch-input-csv")
	limits := map[string]int64{}
	for _, l := range fixtureLines(fx.MustFile(t, "limits.txt")) {
		k, v, _ := strings.Cut(l, " ")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		limits[k] = n
	}
	file, total := limits["file"], limits["total"]
	if file == 0 || total == 0 {
		t.Fatalf("fixture limits %v", limits)
	}
	for _, c := range []struct {
		sizes []int64
		ok    bool
	}{
		{[]int64{file}, true},
		{[]int64{file + 1}, false},
		{slices.Repeat([]int64{file}, int(total/file)), true},
		{append(slices.Repeat([]int64{file}, int(total/file)), 1), false},
	} {
		objects := make([]inputObject, len(c.sizes))
		for i, s := range c.sizes {
			objects[i] = inputObject{uri: "gs://b/part-" + strconv.Itoa(i), size: s}
		}
		if err := checkInputSizes(objects); (err == nil) != c.ok {
			t.Errorf("sizes %v: %v, want ok=%v", c.sizes, err, c.ok)
		}
	}
}

// TestConformanceOperationsFilter: the backend's ListOperations filter is
// the documented single worksOn comparison, naming the model as the service
// answered it.
func TestConformanceOperationsFilter(t *testing.T) {
	fx := conformance.Load(t, "automl-operations-filter")
	doc := fixtureLines(fx.MustFile(t, "production.txt"))[0]
	field, _, _ := strings.Cut(doc, " = ")
	const byID = "projects/my-project/locations/us-central1/models/15"
	const answered = "projects/292381/locations/us-central1/models/15"
	f := &fake{deploy: &longrunningpb.Operation{Name: "projects/292381/locations/us-central1/operations/D1"}}
	f.models = map[string]*automlpb.Model{byID: {Name: answered, DeploymentState: automlpb.Model_UNDEPLOYED}}
	b := startFake(t, f)
	ctx := context.Background()
	if _, err := b.Deploy(ctx, byID); err != nil {
		t.Fatal(err)
	}
	in := &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: []string{"gs://b/x.csv"}}}}
	if _, err := b.findStarted(ctx, batchStart{key: "k", model: byID, input: in, output: "gs://b/out/k"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(f.filters) != 2 {
		t.Fatalf("filters %q, want one per call", f.filters)
	}
	for _, filter := range f.filters {
		if filter != field+" = "+answered {
			t.Fatalf("filter %q, want %q", filter, field+" = "+answered)
		}
	}
}

// TestConformanceDeployNoEffect: the backend reads deployment_state and
// neither deploys a DEPLOYED model nor undeploys an UNDEPLOYED one.
func TestConformanceDeployNoEffect(t *testing.T) {
	fx := conformance.Load(t, "automl-deploy-no-effect")
	for _, c := range []struct {
		file        string
		deploy      bool
		wantCall    bool
		description string
	}{
		{"deployed.json", true, false, "deploy a deployed model"},
		{"deployed.json", false, true, "undeploy a deployed model"},
		{"undeployed.json", false, false, "undeploy an undeployed model"},
		{"undeployed.json", true, true, "deploy an undeployed model"},
	} {
		m := &automlpb.Model{}
		if err := protojson.Unmarshal(fx.MustFile(t, c.file), m); err != nil {
			t.Fatal(err)
		}
		op := &longrunningpb.Operation{Name: strings.Replace(m.GetName(), "/models/", "/operations/", 1)}
		f := &fake{deploy: op}
		f.models = map[string]*automlpb.Model{m.GetName(): m}
		b := startFake(t, f)
		call := b.Undeploy
		if c.deploy {
			call = b.Deploy
		}
		got, err := call(context.Background(), m.GetName())
		if err != nil {
			t.Fatalf("%s: %v", c.description, err)
		}
		if called := len(f.calls) == 1; called != c.wantCall || (got == op.GetName()) != c.wantCall || (got == "") == c.wantCall {
			t.Fatalf("%s: returned %q after calls %v", c.description, got, f.calls)
		}
	}
}

// TestConformanceBatchOutputDirectory: the backend reports the directory
// the operation metadata names, and adopts an operation whose directory is
// inside its output prefix.
func TestConformanceBatchOutputDirectory(t *testing.T) {
	fx := conformance.Load(t, "automl-batch-output-directory")
	op := fixtureOperation(t, fx, "operation.json")
	meta := &automlpb.OperationMetadata{}
	if err := op.GetMetadata().UnmarshalTo(meta); err != nil {
		t.Fatal(err)
	}
	dir := meta.GetBatchPredictDetails().GetOutputInfo().GetGcsOutputDirectory()
	prefix := dir[:strings.LastIndex(dir, "/")]
	const model = "projects/292381/locations/us-central1/models/TBL543"
	f := &fake{ops: map[string]*longrunningpb.Operation{op.GetName(): op}, worksOn: map[string]string{op.GetName(): model}}
	f.models = map[string]*automlpb.Model{model: {Name: model}}
	b := startFake(t, f)
	ctx := context.Background()
	st, err := b.PollBatch(ctx, op.GetName())
	if err != nil || !st.Done || st.State != "SUCCEEDED" || st.Err != nil || st.OutputDir != dir {
		t.Fatalf("PollBatch = %+v, %v; want SUCCEEDED in %s", st, err, dir)
	}
	s := batchStart{key: "k", model: model, input: proto.Clone(meta.GetBatchPredictDetails().GetInputConfig()).(*automlpb.BatchPredictInputConfig), output: prefix}
	claimed := meta.GetCreateTime().AsTime()
	if found, err := b.findStarted(ctx, s, claimed); err != nil || found != op.GetName() {
		t.Fatalf("findStarted = %q, %v; want %q", found, err, op.GetName())
	}
	s.output = prefix + "-other"
	if found, err := b.findStarted(ctx, s, claimed); err != nil || found != "" {
		t.Fatalf("findStarted for another prefix = %q, %v", found, err)
	}
}
