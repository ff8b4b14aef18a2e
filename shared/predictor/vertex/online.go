package vertex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// endpointPoll is how often Deploy polls the creation of an endpoint, and
// endpointWait how long at most.
const (
	endpointPoll = 200 * time.Millisecond
	endpointWait = 2 * time.Minute
)

// Deploy deploys model to its own endpoint (ID "dropcast-<model ID>",
// created if missing) and returns the DeployModel operation, or "" when the
// model already serves there. A DeployModel still running on the endpoint
// is re-attached rather than repeated.
func (b *Backend) Deploy(ctx context.Context, model string) (string, error) {
	name, parent, id, err := b.modelName(model)
	if err != nil {
		return "", err
	}
	if _, err := b.models.GetModel(ctx, &aiplatformpb.GetModelRequest{Name: name}); err != nil {
		return "", callErr("get model "+name, err)
	}
	ep, err := b.ensureEndpoint(ctx, parent, id)
	if err != nil {
		return "", err
	}
	if deployedID(ep, name) != "" {
		return "", nil
	}
	if op, err := b.pendingDeploy(ctx, ep.GetName()); err != nil || op != "" {
		return op, err
	}
	op, err := b.endpoints.DeployModel(ctx, &aiplatformpb.DeployModelRequest{
		Endpoint: ep.GetName(),
		DeployedModel: &aiplatformpb.DeployedModel{
			Model:       name,
			DisplayName: endpointID(id),
			PredictionResources: &aiplatformpb.DeployedModel_DedicatedResources{DedicatedResources: &aiplatformpb.DedicatedResources{
				MachineSpec:     &aiplatformpb.MachineSpec{MachineType: b.cfg.MachineType},
				MinReplicaCount: b.cfg.Replicas,
				MaxReplicaCount: b.cfg.Replicas,
			}},
		},
		TrafficSplit: map[string]int32{"0": 100},
	})
	if err != nil {
		return "", callErr("deploy "+name, err)
	}
	return op.Name(), nil
}

// Undeploy undeploys model from its endpoint and returns the operation, or
// "" when it is not deployed there. If the model was deployed more than
// once, call it again after the operation until it returns "". While a
// deployment is still running it returns an error: undeploy after it ends.
func (b *Backend) Undeploy(ctx context.Context, model string) (string, error) {
	name, parent, id, err := b.modelName(model)
	if err != nil {
		return "", err
	}
	epName := parent + "/endpoints/" + endpointID(id)
	ep, err := b.endpoints.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if status.Code(err) == codes.NotFound {
		return "", nil
	}
	if err != nil {
		return "", callErr("get endpoint "+epName, err)
	}
	dmID := deployedID(ep, name)
	if dmID == "" {
		op, err := b.pendingDeploy(ctx, epName)
		if err != nil {
			return "", err
		}
		if op != "" {
			return "", fmt.Errorf("vertex: undeploy %s: deployment %s is still running; undeploy once it is done", name, op)
		}
		return "", nil
	}
	op, err := b.endpoints.UndeployModel(ctx, &aiplatformpb.UndeployModelRequest{
		Endpoint:        epName,
		DeployedModelId: dmID,
		TrafficSplit:    splitWithout(ep, dmID),
	})
	if err != nil {
		return "", callErr("undeploy "+name, err)
	}
	return op.Name(), nil
}

// PollOperation reads any Vertex AI operation once.
func (b *Backend) PollOperation(ctx context.Context, op string) (bool, error) {
	o, err := b.endpoints.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op})
	if err != nil {
		return false, callErr("get operation "+op, err)
	}
	if !o.GetDone() {
		return false, nil
	}
	if e := o.GetError(); e != nil {
		return true, fmt.Errorf("vertex: operation %s failed: %s (code %d)", op, e.GetMessage(), e.GetCode())
	}
	return true, nil
}

// ensureEndpoint returns model id's endpoint, creating it if missing and
// polling the creation (briefly: it takes seconds) until done.
func (b *Backend) ensureEndpoint(ctx context.Context, parent, id string) (*aiplatformpb.Endpoint, error) {
	epName := parent + "/endpoints/" + endpointID(id)
	ep, err := b.endpoints.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if err == nil {
		return ep, nil
	}
	if status.Code(err) != codes.NotFound {
		return nil, callErr("get endpoint "+epName, err)
	}
	op, err := b.endpoints.CreateEndpoint(ctx, &aiplatformpb.CreateEndpointRequest{
		Parent:     parent,
		EndpointId: endpointID(id),
		Endpoint:   &aiplatformpb.Endpoint{DisplayName: endpointID(id), Description: "dropcast online predictions for model " + id},
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return nil, callErr("create endpoint "+epName, err)
	}
	if err == nil {
		if err := b.awaitOperation(ctx, op.Name()); err != nil {
			return nil, err
		}
	}
	ep, err = b.endpoints.GetEndpoint(ctx, &aiplatformpb.GetEndpointRequest{Name: epName})
	if err != nil {
		return nil, callErr("get endpoint "+epName, err)
	}
	return ep, nil
}

// awaitOperation polls a short operation until it is done.
func (b *Backend) awaitOperation(ctx context.Context, op string) error {
	ctx, cancel := context.WithTimeout(ctx, endpointWait)
	defer cancel()
	for {
		done, err := b.PollOperation(ctx, op)
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vertex: operation %s: %w", op, ctx.Err())
		case <-time.After(endpointPoll):
		}
	}
}

// deployedID is the ID of model's deployment on ep, or "".
func deployedID(ep *aiplatformpb.Endpoint, model string) string {
	for _, dm := range ep.GetDeployedModels() {
		if sameResource(dm.GetModel(), model) {
			return dm.GetId()
		}
	}
	return ""
}

// splitWithout is the traffic split to send when undeploying deployed model
// id from ep: nil when id is the endpoint's last model or has no traffic,
// else ep's split with id's share moved to the remaining model with the
// largest share. Vertex AI undeploys a model "only if it doesn't have any
// traffic assigned to it when this method executes, or if this field
// unassigns any traffic to it" (UndeployModelRequest.traffic_split; fixture
// vertex-undeploy-traffic).
func splitWithout(ep *aiplatformpb.Endpoint, id string) map[string]int32 {
	freed := ep.GetTrafficSplit()[id]
	if len(ep.GetDeployedModels()) <= 1 || freed == 0 {
		return nil
	}
	out := map[string]int32{}
	heir := ""
	for _, dm := range ep.GetDeployedModels() {
		other := dm.GetId()
		if other == id {
			continue
		}
		out[other] = ep.GetTrafficSplit()[other]
		if heir == "" || out[other] > out[heir] {
			heir = other
		}
	}
	out[heir] += freed
	return out
}

// pendingDeploy returns a DeployModel operation still running on the
// endpoint, or "".
func (b *Backend) pendingDeploy(ctx context.Context, epName string) (string, error) {
	it := b.endpoints.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: epName})
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return "", nil
		}
		if err != nil {
			return "", callErr("list operations of "+epName, err)
		}
		if !o.GetDone() && o.GetMetadata().MessageIs(&aiplatformpb.DeployModelOperationMetadata{}) {
			return o.GetName(), nil
		}
	}
}
