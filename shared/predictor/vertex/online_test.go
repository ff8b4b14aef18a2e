package vertex

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"

	"github.com/dropcast/dropcast/shared/emulator/vertexemu"
	"github.com/dropcast/dropcast/shared/predictor"
)

func TestDeployPredictUndeploy(t *testing.T) {
	e := newEnv(t, vertexemu.Options{DeployLatency: 150 * time.Millisecond, UndeployLatency: 50 * time.Millisecond})
	ctx := context.Background()
	_, rows := sample()
	hdr := strings.Split(header, ",")
	good := rows[:4]

	if op, err := e.b.Undeploy(ctx, e.model); err != nil || op != "" {
		t.Fatalf("undeploy before any deploy: %q %v", op, err)
	}
	op, err := e.b.Deploy(ctx, e.model)
	if err != nil || op == "" {
		t.Fatalf("deploy: %q %v", op, err)
	}
	again, err := e.b.Deploy(ctx, e.model)
	if err != nil || again != op {
		t.Fatalf("second deploy while the first runs: %q %v, want %q", again, err, op)
	}
	if _, err := e.b.Predict(ctx, e.model, hdr, good); err == nil {
		t.Fatal("predict before the deployment finished succeeded")
	}
	if _, err := e.b.Undeploy(ctx, e.model); err == nil {
		t.Fatal("undeploy while deploying succeeded")
	}
	eventually(t, "deploy", func() bool {
		done, err := e.b.PollOperation(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		return done
	})
	if op, err := e.b.Deploy(ctx, e.model); err != nil || op != "" {
		t.Fatalf("deploy when deployed: %q %v", op, err)
	}

	preds, err := e.b.Predict(ctx, e.model, hdr, good)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != len(good) || e.emu.PredictCalls() != 2 || e.emu.PredictRows() != 4 {
		t.Fatalf("%d predictions, %d calls, %d rows", len(preds), e.emu.PredictCalls(), e.emu.PredictRows())
	}
	for i, p := range preds {
		w := want(t, good[i])
		if p.RowKey != good[i][8] || p.Label != w.Label || math.Abs(p.Scores["true"]-w.Scores["true"]) > 1e-12 {
			t.Errorf("row %d: got %+v, want %+v", i, p, w)
		}
	}
	if _, err := e.b.Predict(ctx, e.model, hdr, rows[4:]); err == nil || !strings.Contains(err.Error(), `"price"`) {
		t.Errorf("row whose price is not a number: %v", err)
	}

	uop, err := e.b.Undeploy(ctx, e.model)
	if err != nil || uop == "" {
		t.Fatalf("undeploy: %q %v", uop, err)
	}
	eventually(t, "undeploy", func() bool {
		done, err := e.b.PollOperation(ctx, uop)
		if err != nil {
			t.Fatal(err)
		}
		return done
	})
	if n := e.emu.DeployedModels(); n != 0 {
		t.Fatalf("DeployedModels = %d after undeploy", n)
	}
	if d := e.emu.DeployedTime(e.model); d < 150*time.Millisecond {
		t.Errorf("DeployedTime = %v", d)
	}
	if op, err := e.b.Undeploy(ctx, e.model); err != nil || op != "" {
		t.Fatalf("undeploy when undeployed: %q %v", op, err)
	}
}

func TestQuotaAndFailedDeploy(t *testing.T) {
	e := newEnv(t, vertexemu.Options{})
	ctx := context.Background()
	e.emu.SetFaults(vertexemu.Faults{FailDeploy: 1, QuotaErrors: 1})
	op, err := e.b.Deploy(ctx, "demo-returns")
	if err != nil {
		t.Fatal(err)
	}
	done, err := e.b.PollOperation(ctx, op)
	if !done || err == nil || e.emu.DeployedModels() != 0 {
		t.Fatalf("failed deploy: done=%v err=%v deployed=%d", done, err, e.emu.DeployedModels())
	}
	if op, err = e.b.Deploy(ctx, "demo-returns"); err != nil {
		t.Fatal(err)
	}
	if done, err := e.b.PollOperation(ctx, op); !done || err != nil {
		t.Fatalf("deploy: done=%v %v", done, err)
	}
	_, rows := sample()
	_, err = e.b.Predict(ctx, e.model, strings.Split(header, ","), rows[:1])
	if !errors.Is(err, predictor.ErrQuota) {
		t.Fatalf("quota error: %v", err)
	}
	if _, err := e.b.Predict(ctx, e.model, strings.Split(header, ","), rows[:1]); err != nil {
		t.Fatalf("after quota error: %v", err)
	}
	if _, err := e.b.Deploy(ctx, e.emu.ModelName("missing")); err == nil {
		t.Error("deploying an unknown model succeeded")
	}
}

// TestDeployOnceWhateverTheProjectForm names the model by project ID and by
// project number: Vertex AI answers with the number whatever the request
// used, so the deployed model must be recognised either way — deployed once,
// and undeployed to zero.
func TestDeployOnceWhateverTheProjectForm(t *testing.T) {
	for _, form := range []string{"id", "number"} {
		t.Run(form, func(t *testing.T) {
			e := newEnv(t, vertexemu.Options{DeployLatency: 20 * time.Millisecond, UndeployLatency: 20 * time.Millisecond})
			ctx := context.Background()
			model := "projects/" + e.emu.Project() + "/locations/europe-west1/models/demo-returns"
			if form == "number" {
				model = "projects/" + e.emu.ProjectNumber() + "/locations/europe-west1/models/demo-returns"
			}
			await := func(op string) {
				t.Helper()
				eventually(t, "operation "+op, func() bool {
					done, err := e.b.PollOperation(ctx, op)
					if err != nil {
						t.Fatal(err)
					}
					return done
				})
			}
			op, err := e.b.Deploy(ctx, model)
			if err != nil || op == "" {
				t.Fatalf("deploy: %q %v", op, err)
			}
			await(op)
			if again, err := e.b.Deploy(ctx, model); err != nil || again != "" {
				t.Fatalf("deploy when deployed: %q %v, want \"\" (already deployed)", again, err)
			}
			if n := e.emu.DeployedModels(); n != 1 {
				t.Fatalf("%d deployments, want 1", n)
			}
			op, err = e.b.Undeploy(ctx, model)
			if err != nil || op == "" {
				t.Fatalf("undeploy: %q %v", op, err)
			}
			await(op)
			if n := e.emu.DeployedModels(); n != 0 {
				t.Fatalf("%d deployments after undeploy, want 0", n)
			}
			if op, err := e.b.Undeploy(ctx, model); err != nil || op != "" {
				t.Fatalf("undeploy when undeployed: %q %v", op, err)
			}
		})
	}
}

// TestUndeployUnassignsTraffic deploys the model twice on its endpoint with
// the traffic split between the two (as an earlier double deployment would
// leave it): Undeploy must move each deployment's traffic away before
// undeploying it, as Vertex AI refuses to undeploy a model that still has
// traffic unless it is the endpoint's last (fixture vertex-undeploy-traffic).
func TestUndeployUnassignsTraffic(t *testing.T) {
	e := newEnv(t, vertexemu.Options{})
	ctx := context.Background()
	op, err := e.b.Deploy(ctx, e.model)
	if err != nil || op == "" {
		t.Fatalf("deploy: %q %v", op, err)
	}
	eventually(t, "deploy", func() bool { done, err := e.b.PollOperation(ctx, op); return done && err == nil })
	epName := "projects/" + e.emu.ProjectNumber() + "/locations/europe-west1/endpoints/" + endpointID("demo-returns")
	ep, err := e.b.endpoints.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if err != nil || len(ep.GetDeployedModels()) != 1 {
		t.Fatalf("endpoint after deploy: %v %v", ep, err)
	}
	first := ep.GetDeployedModels()[0].GetId()
	second, err := e.b.endpoints.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint: epName,
		DeployedModel: &aiplatformpb.DeployedModel{Model: e.model, PredictionResources: &aiplatformpb.DeployedModel_DedicatedResources{DedicatedResources: &aiplatformpb.DedicatedResources{
			MachineSpec: &aiplatformpb.MachineSpec{MachineType: "n1-standard-2"}, MinReplicaCount: 1,
		}}},
		TrafficSplit: map[string]int32{first: 50, "0": 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.emu.DeployedModels(); n != 2 {
		t.Fatalf("%d deployments, want 2", n)
	}
	for i := 0; ; i++ {
		op, err := e.b.Undeploy(ctx, e.model)
		if err != nil {
			t.Fatalf("undeploy %d: %v", i+1, err)
		}
		if op == "" {
			break
		}
		eventually(t, "undeploy", func() bool {
			done, err := e.b.PollOperation(ctx, op)
			if err != nil {
				t.Fatalf("undeploy %d: %v", i+1, err)
			}
			return done
		})
		if i > 2 {
			t.Fatal("undeploy never ends")
		}
	}
	if n := e.emu.DeployedModels(); n != 0 {
		t.Fatalf("%d deployments after undeploy, want 0", n)
	}
}
