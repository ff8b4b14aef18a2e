package vertexemu

import (
	"context"
	"strings"
	"testing"
	"time"

	aiplatform "cloud.google.com/go/aiplatform/apiv1"
	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/emulator/iamemu/iamemutest"
)

// checkCall is one Authorizer.Check the emulator made; recordingAuthorizer
// records them.
type (
	checkCall           = iamemutest.Check
	recordingAuthorizer = iamemutest.Recorder
)

// iamEnv is newEnv whose clients call as identity.
func iamEnv(t *testing.T, opts Options, identity string) *env {
	t.Helper()
	e := newEnv(t, opts)
	ctx := context.Background()
	co := []option.ClientOption{
		option.WithEndpoint(e.srv.Addr()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(iamemu.GRPCDialOption(identity)),
	}
	var err error
	if e.jobs, err = aiplatform.NewJobClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.models, err = aiplatform.NewModelClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.eps, err = aiplatform.NewEndpointClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if e.predict, err = aiplatform.NewPredictionClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.jobs.Close(); e.models.Close(); e.eps.Close(); e.predict.Close() })
	return e
}

const predictSA = "predict@dropcast-emu.iam.gserviceaccount.com"

// TestIAMProductionCalls makes the calls shared/predictor/vertex makes and
// checks each one's (identity, permission, resource), then refusals.
func TestIAMProductionCalls(t *testing.T) {
	az := &recordingAuthorizer{}
	e := iamEnv(t, Options{Authorizer: az}, predictSA)
	ctx := context.Background()
	project := "projects/" + e.srv.Project()
	// Requests name the project by ID or by number; both are checked on the ID.
	byID := "projects/" + e.srv.Project() + "/locations/" + e.srv.Location()

	if _, err := e.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: e.modelRef}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eps.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{Parent: byID, EndpointId: "ep1", Endpoint: &aiplatformpb.Endpoint{DisplayName: "ep1"}}); err != nil {
		t.Fatal(err)
	}
	epName := e.srv.parent() + "/endpoints/ep1"
	if _, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName}); err != nil {
		t.Fatal(err)
	}
	dop, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint:      epName,
		DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()},
		TrafficSplit:  map[string]int32{"0": 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eps.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: dop.Name()}); err != nil {
		t.Fatal(err)
	}
	it := e.eps.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: epName})
	for {
		if _, err := it.Next(); err == iterator.Done {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	ep, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]any{"store_id": "2", "category": "apparel", "price": 120.0, "quantity": "1", "promo": true, "dropcast_row": "9"}
	if _, err := e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: []*structpb.Value{instance(t, row)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eps.UndeployModel(ctx, &aiplatformpb.UndeployModelRequest{Endpoint: epName, DeployedModelId: ep.GetDeployedModels()[0].GetId()}); err != nil {
		t.Fatal(err)
	}
	e.put(t, "gs://in/p.csv", purchasesHeader)
	job, err := e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "iam", "gs://in/p.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.GetBatchPredictionJob(ctx, &aiplatformpb.GetBatchPredictionJobRequest{Name: job.GetName()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.ListBatchPredictionJobs(ctx, &aiplatformpb.ListBatchPredictionJobsRequest{Parent: byID}).Next(); err != nil {
		t.Fatal(err)
	}

	want := []checkCall{
		{Identity: predictSA, Permission: "aiplatform.models.get", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.create", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.get", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.deploy", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.get", Resource: project}, // GetOperation on the endpoint's operation
		{Identity: predictSA, Permission: "aiplatform.operations.list", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.get", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.predict", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.endpoints.undeploy", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.batchPredictionJobs.create", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.batchPredictionJobs.get", Resource: project},
		{Identity: predictSA, Permission: "aiplatform.batchPredictionJobs.list", Resource: project},
	}
	if got := az.Take(); !equalCalls(got, want) {
		t.Fatalf("checks =\n%v\nwant\n%v", got, want)
	}

	// Refusals: PERMISSION_DENIED naming the permission, and no effect.
	calls, jobs := e.srv.PredictCalls(), e.srv.BatchJobs()
	az.Refuse("aiplatform.endpoints.predict", "aiplatform.batchPredictionJobs.create")
	_, err = e.predict.Predict(ctx, &aiplatformpb.PredictRequest{Endpoint: epName, Instances: []*structpb.Value{instance(t, row)}})
	wantDenied(t, err, "aiplatform.endpoints.predict")
	_, err = e.jobs.CreateBatchPredictionJob(ctx, csvJob(e, "iam2", "gs://in/p.csv"))
	wantDenied(t, err, "aiplatform.batchPredictionJobs.create")
	if e.srv.PredictCalls() != calls || e.srv.BatchJobs() != jobs {
		t.Errorf("refused calls took effect: predict calls %d→%d, batch jobs %d→%d", calls, e.srv.PredictCalls(), jobs, e.srv.BatchJobs())
	}
	// Refused before the emulator looks: a missing model is PERMISSION_DENIED.
	az.Refuse("aiplatform.models.get")
	_, err = e.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: e.srv.ModelName("missing")})
	wantDenied(t, err, "aiplatform.models.get")
	// Another permission is still allowed.
	if _, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName}); err != nil {
		t.Fatalf("GetEndpoint with a granted permission: %v", err)
	}
}

// TestIAMCancelOperation: cancelling an operation needs the permission of
// the method that started it.
func TestIAMCancelOperation(t *testing.T) {
	az := &recordingAuthorizer{}
	e := iamEnv(t, Options{Authorizer: az, DeployLatency: time.Hour}, predictSA)
	ctx := context.Background()
	epName := createEndpoint(t, e, "ep2")
	dop, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint:      epName,
		DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()},
		TrafficSplit:  map[string]int32{"0": 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	az.Take()
	az.Refuse("aiplatform.endpoints.deploy")
	err = e.eps.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: dop.Name()})
	wantDenied(t, err, "aiplatform.endpoints.deploy")
	az.Refuse()
	if err := e.eps.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: dop.Name()}); err != nil {
		t.Fatal(err)
	}
	want := []checkCall{
		{Identity: predictSA, Permission: "aiplatform.endpoints.deploy", Resource: "projects/" + e.srv.Project()},
		{Identity: predictSA, Permission: "aiplatform.endpoints.deploy", Resource: "projects/" + e.srv.Project()},
	}
	if got := az.Take(); !equalCalls(got, want) {
		t.Fatalf("checks = %v, want %v", got, want)
	}
}

// TestIAMEveryMethodHasARule fails if a method the emulator implements has
// no rule: under enforcement such a method would answer Unimplemented.
func TestIAMEveryMethodHasARule(t *testing.T) {
	e := newEnv(t, Options{})
	for name, info := range e.srv.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if _, ok := iamRules[full]; ok {
				continue
			}
			// Without a rule the method must be one the emulator does not
			// implement: called without enforcement, it answers Unimplemented.
			if implemented(t, e.srv, full) {
				t.Errorf("no IAM rule for %s", full)
			}
		}
	}
}

// implemented calls method on srv (which has no Authorizer) with an empty
// request and reports whether it answered other than Unimplemented.
func implemented(t *testing.T, srv *Server, method string) bool {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = conn.Invoke(ctx, method, &structpb.Struct{}, &structpb.Struct{})
	return status.Code(err) != codes.Unimplemented
}

func wantDenied(t *testing.T, err error, permission string) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want PermissionDenied", err)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, permission) {
		t.Errorf("message %q does not name %s", msg, permission)
	}
}

func equalCalls(a, b []checkCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
