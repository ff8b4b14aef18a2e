package automlemu

import (
	"context"
	"strings"
	"testing"
	"time"

	automl "cloud.google.com/go/automl/apiv1beta1"
	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
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

// iamFixture is newFixture whose clients call as identity.
func iamFixture(t *testing.T, opts Options, identity string) *fixture {
	t.Helper()
	f := newFixture(t, opts)
	ctx := context.Background()
	co := []option.ClientOption{option.WithEndpoint(f.srv.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		option.WithGRPCDialOption(iamemu.GRPCDialOption(identity))}
	var err error
	if f.models, err = automl.NewClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if f.pred, err = automl.NewPredictionClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.models.Close(); f.pred.Close() })
	return f
}

const predictSA = "predict@p.iam.gserviceaccount.com"

// TestIAMProductionCalls makes the calls shared/predictor/automl makes and
// checks each one's (identity, permission, resource), then refusals.
func TestIAMProductionCalls(t *testing.T) {
	az := &recordingAuthorizer{}
	f := iamFixture(t, Options{Authorizer: az}, predictSA)
	ctx := context.Background()
	name := f.srv.ModelName("m1") // names the project by ID
	m, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	numbered := m.GetName() // the service's answer names it by number
	dop, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: numbered})
	if err != nil {
		t.Fatal(err)
	}
	f.await(t, dop.Name())
	if _, err := f.listOps(ctx, f.srv.Parent(), "worksOn = "+numbered); err != nil {
		t.Fatal(err)
	}
	row := asMap(demoRow(3))
	var vals []*structpb.Value
	for _, c := range m.GetTablesModelMetadata().GetInputFeatureColumnSpecs() {
		vals = append(vals, structpb.NewStringValue(row[c.GetDisplayName()]))
	}
	req := &automlpb.PredictRequest{Name: numbered, Payload: &automlpb.ExamplePayload{Payload: &automlpb.ExamplePayload_Row{Row: &automlpb.Row{Values: vals}}}}
	if _, err := f.pred.Predict(ctx, req); err != nil {
		t.Fatal(err)
	}
	f.put(t, "in/p.csv", header+"\n"+strings.Join(demoRow(1), ",")+"\n")
	if _, err := f.pred.BatchPredict(ctx, gcsBatch(numbered, []string{"gs://b/in/p.csv"}, "gs://b/out")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.models.UndeployModel(ctx, &automlpb.UndeployModelRequest{Name: numbered}); err != nil {
		t.Fatal(err)
	}

	got := az.Take()
	// await polls GetOperation as often as it takes; keep one of a run.
	var dedup []checkCall
	for i, c := range got {
		if i > 0 && c == got[i-1] && c.Permission == "automl.operations.get" {
			continue
		}
		dedup = append(dedup, c)
	}
	const project = "projects/p"
	want := []checkCall{
		{Identity: predictSA, Permission: "automl.models.get", Resource: project},
		{Identity: predictSA, Permission: "automl.models.deploy", Resource: project},
		{Identity: predictSA, Permission: "automl.operations.get", Resource: project}, // GetOperation polls, then ListOperations
		{Identity: predictSA, Permission: "automl.models.predict", Resource: project},
		{Identity: predictSA, Permission: "automl.models.predict", Resource: project}, // BatchPredict
		{Identity: predictSA, Permission: "automl.models.undeploy", Resource: project},
	}
	if !equalCalls(dedup, want) {
		t.Fatalf("checks =\n%v\nwant\n%v", dedup, want)
	}

	// Refusals: PERMISSION_DENIED naming the permission, and no effect.
	calls, jobs := f.srv.PredictCalls(), f.srv.BatchJobs()
	az.Refuse("automl.models.predict", "automl.operations.get")
	_, err = f.pred.Predict(ctx, req)
	wantDenied(t, err, "automl.models.predict")
	_, err = f.pred.BatchPredict(ctx, gcsBatch(numbered, []string{"gs://b/in/p.csv"}, "gs://b/out"))
	wantDenied(t, err, "automl.models.predict")
	_, err = f.models.LROClient.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: dop.Name()})
	wantDenied(t, err, "automl.operations.get")
	if f.srv.PredictCalls() != calls || f.srv.BatchJobs() != jobs {
		t.Errorf("refused calls took effect: predict calls %d→%d, batch jobs %d→%d", calls, f.srv.PredictCalls(), jobs, f.srv.BatchJobs())
	}
	// Another permission is still allowed.
	if _, err := f.models.GetModel(ctx, &automlpb.GetModelRequest{Name: name}); err != nil {
		t.Fatalf("GetModel with a granted permission: %v", err)
	}
}

// TestIAMOperationsCancelDelete: the operations' own permissions.
func TestIAMOperationsCancelDelete(t *testing.T) {
	az := &recordingAuthorizer{}
	f := iamFixture(t, Options{Authorizer: az, DeployLatency: time.Hour}, predictSA)
	ctx := context.Background()
	dop, err := f.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: f.srv.ModelName("m1")})
	if err != nil {
		t.Fatal(err)
	}
	az.Take()
	az.Refuse("automl.operations.cancel")
	err = f.models.LROClient.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: dop.Name()})
	wantDenied(t, err, "automl.operations.cancel")
	az.Refuse()
	if err := f.models.LROClient.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: dop.Name()}); err != nil {
		t.Fatal(err)
	}
	if err := f.models.LROClient.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: dop.Name()}); err != nil {
		t.Fatal(err)
	}
	want := []checkCall{
		{Identity: predictSA, Permission: "automl.operations.cancel", Resource: "projects/p"},
		{Identity: predictSA, Permission: "automl.operations.cancel", Resource: "projects/p"},
		{Identity: predictSA, Permission: "automl.operations.delete", Resource: "projects/p"},
	}
	if got := az.Take(); !equalCalls(got, want) {
		t.Fatalf("checks = %v, want %v", got, want)
	}
}

// TestIAMEveryMethodHasARule fails if a method the emulator implements has
// no rule: under enforcement such a method would answer Unimplemented.
func TestIAMEveryMethodHasARule(t *testing.T) {
	f := newFixture(t, Options{})
	conn, err := grpc.NewClient(f.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, info := range f.srv.srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			if _, ok := iamRules[full]; ok {
				continue
			}
			// Without a rule the method must be one the emulator does not
			// implement: called (without enforcement) it answers Unimplemented.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := conn.Invoke(ctx, full, &structpb.Struct{}, &structpb.Struct{})
			cancel()
			if status.Code(err) != codes.Unimplemented {
				t.Errorf("no IAM rule for %s (it answers %v)", full, status.Code(err))
			}
		}
	}
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
