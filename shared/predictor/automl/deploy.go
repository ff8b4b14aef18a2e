package automl

import (
	"context"
	"fmt"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
)

// Deploy starts deploying model and returns the operation, or "" when it is
// already deployed. A deploy already running on it is re-attached.
func (b *Backend) Deploy(ctx context.Context, model string) (string, error) {
	return b.deployment(ctx, model, true)
}

// Undeploy starts undeploying model and returns the operation, or "" when it
// is not deployed. An undeploy already running on it is re-attached.
func (b *Backend) Undeploy(ctx context.Context, model string) (string, error) {
	return b.deployment(ctx, model, false)
}

// deployment looks for a running deploy or undeploy on model first (the
// model's state only changes when that ends), then at the model's state.
func (b *Backend) deployment(ctx context.Context, model string, deploy bool) (string, error) {
	verb := map[bool]string{true: "deploy", false: "undeploy"}
	running, runningDeploy, err := b.runningDeployment(ctx, model)
	if err != nil {
		return "", err
	}
	if running != "" {
		if runningDeploy == deploy {
			return running, nil
		}
		return "", fmt.Errorf("automl: %s %s: %s operation %s is still running; retry when it ends", verb[deploy], model, verb[runningDeploy], running)
	}
	m, err := b.models.GetModel(ctx, &automlpb.GetModelRequest{Name: model})
	if err != nil {
		return "", fmt.Errorf("automl: %s %s: get model: %w", verb[deploy], model, err)
	}
	if (m.GetDeploymentState() == automlpb.Model_DEPLOYED) == deploy {
		return "", nil
	}
	if deploy {
		op, err := b.models.DeployModel(ctx, &automlpb.DeployModelRequest{Name: model})
		if err != nil {
			return "", fmt.Errorf("automl: deploy %s: %w", model, err)
		}
		return op.Name(), nil
	}
	op, err := b.models.UndeployModel(ctx, &automlpb.UndeployModelRequest{Name: model})
	if err != nil {
		return "", fmt.Errorf("automl: undeploy %s: %w", model, err)
	}
	return op.Name(), nil
}

// runningDeployment finds a deploy or undeploy operation still running on model.
func (b *Backend) runningDeployment(ctx context.Context, model string) (name string, deploy bool, err error) {
	err = b.listOperations(ctx, model, "worksOn = "+model+" AND done = false", func(op *longrunningpb.Operation, meta *automlpb.OperationMetadata) bool {
		switch {
		case meta.GetDeployModelDetails() != nil:
			name, deploy = op.GetName(), true
		case meta.GetUndeployModelDetails() != nil:
			name, deploy = op.GetName(), false
		default:
			return false
		}
		return true
	})
	return name, deploy, err
}
