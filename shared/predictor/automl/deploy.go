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

// deployment reads the model, then looks for a deploy or undeploy still
// running on it (the model's state only changes when that ends), then at the
// model's state. Should a running operation end between the two reads, the
// call made is one the service documents as having no effect ("If a model is
// already deployed, deploying it with the same parameters has no effect"; "If
// the model is not deployed this method has no effect").
func (b *Backend) deployment(ctx context.Context, model string, deploy bool) (string, error) {
	verb := map[bool]string{true: "deploy", false: "undeploy"}
	m, err := b.models.GetModel(ctx, &automlpb.GetModelRequest{Name: model})
	if err != nil {
		return "", fmt.Errorf("automl: %s %s: get model: %w", verb[deploy], model, err)
	}
	b.rememberName(model, m.GetName())
	running, runningDeploy, err := b.runningDeployment(ctx, m.GetName())
	if err != nil {
		return "", err
	}
	if running != "" {
		if runningDeploy == deploy {
			return running, nil
		}
		return "", fmt.Errorf("automl: %s %s: %s operation %s is still running; retry when it ends", verb[deploy], model, verb[runningDeploy], running)
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

// runningDeployment finds a deploy or undeploy operation still running on
// the model the service names name.
func (b *Backend) runningDeployment(ctx context.Context, name string) (op string, deploy bool, err error) {
	err = b.listOperations(ctx, name, worksOn(name), func(o *longrunningpb.Operation, meta *automlpb.OperationMetadata) bool {
		if o.GetDone() {
			return false
		}
		switch {
		case meta.GetDeployModelDetails() != nil:
			op, deploy = o.GetName(), true
		case meta.GetUndeployModelDetails() != nil:
			op, deploy = o.GetName(), false
		default:
			return false
		}
		return true
	})
	return op, deploy, err
}
