package vertexemu

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/dropcast/dropcast/shared/model"
)

func dedicated() *aiplatformpb.DeployedModel_DedicatedResources {
	return &aiplatformpb.DeployedModel_DedicatedResources{DedicatedResources: &aiplatformpb.DedicatedResources{
		MachineSpec: &aiplatformpb.MachineSpec{MachineType: "n1-standard-2"}, MinReplicaCount: 1, MaxReplicaCount: 1,
	}}
}

func createEndpoint(t *testing.T, e *env, id string) string {
	t.Helper()
	op, err := e.eps.CreateEndpoint(context.Background(), &aiplatformpb.CreateEndpointRequest{
		Parent: e.parent(), EndpointId: id, Endpoint: &aiplatformpb.Endpoint{DisplayName: id},
	})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := op.Poll(context.Background())
	if err != nil || !op.Done() {
		t.Fatalf("create endpoint: done=%v %v", op.Done(), err)
	}
	return ep.Name
}

func instance(t *testing.T, row map[string]any) *structpb.Value {
	t.Helper()
	v, err := structpb.NewValue(row)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDeployPredictUndeploy(t *testing.T) {
	e := newEnv(t, Options{DeployLatency: 100 * time.Millisecond, PredictPerRowLatency: 10 * time.Millisecond})
	ctx := context.Background()
	epName := createEndpoint(t, e, "dropcast-demo-returns")
	row := map[string]any{"store_id": "2", "category": "apparel", "price": 120.0, "quantity": "1", "promo": true, "dropcast_row": "9"}
	req := &aiplatformpb.PredictRequest{Endpoint: epName, Instances: []*structpb.Value{instance(t, row), instance(t, row), instance(t, row)}}
	if _, err := e.predict.Predict(ctx, req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("predict before deploy: %v", err)
	}

	op, err := e.eps.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint:      epName,
		DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()},
		TrafficSplit:  map[string]int32{"0": 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.DeployedModels() != 1 {
		t.Fatalf("DeployedModels while deploying = %d", e.srv.DeployedModels())
	}
	// Re-attach by name, as a later invocation would, and poll until done.
	again := e.eps.DeployModelOperation(op.Name())
	var deployed *aiplatformpb.DeployModelResponse
	for deadline := time.Now().Add(3 * time.Second); !again.Done(); time.Sleep(10 * time.Millisecond) {
		if deployed, err = again.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("deploy did not finish")
		}
	}
	ops := e.eps.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: epName, Filter: "done=true"})
	var listed []string
	for {
		o, err := ops.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, o.Name)
	}
	if len(listed) != 2 || listed[1] != op.Name() {
		t.Fatalf("done operations on the endpoint = %v, want create and %s", listed, op.Name())
	}

	start := time.Now()
	resp, err := e.predict.Predict(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("predict of 3 rows took %v, want >= 30ms", took)
	}
	want, _ := model.Demo().Predict(map[string]string{"store_id": "2", "category": "apparel", "price": "120", "quantity": "1", "promo": "true"})
	if len(resp.Predictions) != 3 || resp.DeployedModelId != deployed.DeployedModel.Id {
		t.Fatalf("response %v", resp)
	}
	p := resp.Predictions[0].GetStructValue().Fields
	if got := p["scores"].GetListValue().Values[1].GetNumberValue(); math.Abs(got-want.Scores["true"]) > 1e-12 ||
		p["classes"].GetListValue().Values[1].GetStringValue() != "true" {
		t.Fatalf("prediction %v, want true score %v", p, want.Scores["true"])
	}
	if e.srv.PredictCalls() != 1 || e.srv.PredictRows() != 3 {
		t.Errorf("calls %d rows %d", e.srv.PredictCalls(), e.srv.PredictRows())
	}

	bad := &aiplatformpb.PredictRequest{Endpoint: epName, Instances: []*structpb.Value{instance(t, map[string]any{"category": "toys"})}}
	if _, err := e.predict.Predict(ctx, bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "missing") {
		t.Errorf("bad instance: %v", err)
	}

	uop, err := e.eps.UndeployModel(ctx, &aiplatformpb.UndeployModelRequest{Endpoint: epName, DeployedModelId: deployed.DeployedModel.Id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uop.Poll(ctx); err != nil || !uop.Done() {
		t.Fatalf("undeploy: done=%v %v", uop.Done(), err)
	}
	if n := e.srv.DeployedModels(); n != 0 {
		t.Errorf("DeployedModels after undeploy = %d", n)
	}
	if d := e.srv.DeployedTime(e.modelRef); d < 100*time.Millisecond || d > 3*time.Second {
		t.Errorf("DeployedTime = %v", d)
	}
	ep, err := e.eps.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if err != nil || len(ep.DeployedModels) != 0 {
		t.Fatalf("endpoint after undeploy: %v %v", ep, err)
	}
	if _, err := e.predict.Predict(ctx, req); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("predict after undeploy: %v", err)
	}
}

func TestOnlineFaults(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	epName := createEndpoint(t, e, "ep")
	e.srv.SetFaults(Faults{FailDeploy: 1, QuotaErrors: 1})
	deployReq := &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef, PredictionResources: dedicated()}, TrafficSplit: map[string]int32{"0": 100}}
	op, err := e.eps.DeployModel(ctx, deployReq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Poll(ctx); err == nil || !op.Done() || e.srv.DeployedModels() != 0 {
		t.Fatalf("failed deploy: done=%v err=%v deployed=%d", op.Done(), err, e.srv.DeployedModels())
	}
	if op, err = e.eps.DeployModel(ctx, deployReq); err != nil {
		t.Fatal(err)
	}
	if _, err := op.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	req := &aiplatformpb.PredictRequest{Endpoint: epName, Instances: []*structpb.Value{instance(t, map[string]any{
		"store_id": "1", "category": "home", "price": "10", "quantity": "1", "promo": "false"})}}
	if _, err := e.predict.Predict(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("quota: %v", err)
	}
	if _, err := e.predict.Predict(ctx, req); err != nil {
		t.Fatalf("after quota error: %v", err)
	}
	noResources := &aiplatformpb.DeployModelRequest{Endpoint: epName, DeployedModel: &aiplatformpb.DeployedModel{Model: e.modelRef}}
	if _, err := e.eps.DeployModel(ctx, noResources); status.Code(err) != codes.InvalidArgument {
		t.Errorf("deploy without resources: %v", err)
	}

	// Server errors hit every RPC; use a raw stub (no client retries).
	e.srv.SetFaults(Faults{ServerErrorRate: 1})
	conn, err := grpc.NewClient(e.srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = aiplatformpb.NewModelServiceClient(conn).GetModel(ctx, &aiplatformpb.GetModelRequest{Name: e.modelRef})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("server error: %v", err)
	}
}

func TestModels(t *testing.T) {
	e := newEnv(t, Options{Models: map[string]model.Predictor{"demo-returns": model.Demo(), "other": model.Demo()}})
	ctx := context.Background()
	m, err := e.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: e.modelRef})
	if err != nil || m.DisplayName != "demo-returns" || m.Name != e.modelRef {
		t.Fatalf("GetModel: %v %v", m, err)
	}
	if _, err := e.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: e.parent() + "/models/x"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown model: %v", err)
	}
	var names []string
	it := e.models.ListModels(ctx, &aiplatformpb.ListModelsRequest{Parent: e.parent(), PageSize: 1})
	for {
		m, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.DisplayName)
	}
	if strings.Join(names, ",") != "demo-returns,other" {
		t.Fatalf("paged list = %v", names)
	}
}
