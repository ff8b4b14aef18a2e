package automlemu

import (
	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// rule is what one method needs: a permission, and the request's resource
// name it is checked on (as the project of that name, see projectResource).
type rule struct {
	permission string
	name       func(req any) string
}

func on[R any](permission string, name func(R) string) rule {
	return rule{permission, func(req any) string { return name(req.(R)) }}
}

const (
	amlSvc  = "/google.cloud.automl.v1beta1.AutoMl/"
	predSvc = "/google.cloud.automl.v1beta1.PredictionService/"
	opsSvc  = "/google.longrunning.Operations/"
)

// iamRules is what each method the emulator serves needs, by full gRPC
// method name.
//
// Quoted from the AutoML v1beta1 REST reference (automl.googleapis.com,
// pages under https://cloud.google.com/translate/automl/docs/reference/rest/v1beta1/),
// each saying "Authorization requires the following Google IAM permission on
// the specified resource name:" and then the permission:
//
//	projects.locations.models/get          automl.models.get
//	projects.locations.operations/get      automl.operations.get
//	projects.locations.operations/list     automl.operations.get   (sic: list needs get)
//	projects.locations.operations/cancel   automl.operations.cancel
//	projects.locations.operations/delete   automl.operations.delete
//
// and from the v1 page of the same method
// (https://cloud.google.com/automl/docs/reference/rest/v1/projects.locations.models/deploy):
// "Authorization requires the following Google IAM permission on the
// specified resource name: automl.models.deploy".
//
// Not quoted (the pages' permission cells were not retrievable): ListModels
// → automl.models.list, UndeployModel → automl.models.undeploy, Predict and
// BatchPredict → automl.models.predict. These are the permissions of the
// AutoML predefined roles ("AutoML Predictor ... Predict using models",
// https://cloud.google.com/iam/docs/roles-permissions/automl) by the API's
// naming, an assumption to confirm.
//
// Grants are checked on the project (projects/ID, also when the request
// names the project by number): the roles' "Lowest-level resources where you
// can grant this role" are datasets and models, which the iamemu policy does
// not model, and a project grant covers them.
var iamRules = map[string]rule{
	amlSvc + "GetModel":        on("automl.models.get", (*automlpb.GetModelRequest).GetName),
	amlSvc + "ListModels":      on("automl.models.list", (*automlpb.ListModelsRequest).GetParent),
	amlSvc + "DeployModel":     on("automl.models.deploy", (*automlpb.DeployModelRequest).GetName),
	amlSvc + "UndeployModel":   on("automl.models.undeploy", (*automlpb.UndeployModelRequest).GetName),
	predSvc + "Predict":        on("automl.models.predict", (*automlpb.PredictRequest).GetName),
	predSvc + "BatchPredict":   on("automl.models.predict", (*automlpb.BatchPredictRequest).GetName),
	opsSvc + "GetOperation":    on("automl.operations.get", (*longrunningpb.GetOperationRequest).GetName),
	opsSvc + "ListOperations":  on("automl.operations.get", (*longrunningpb.ListOperationsRequest).GetName),
	opsSvc + "CancelOperation": on("automl.operations.cancel", (*longrunningpb.CancelOperationRequest).GetName),
	opsSvc + "DeleteOperation": on("automl.operations.delete", (*longrunningpb.DeleteOperationRequest).GetName),
}

// authorize checks every call against Options.Authorizer before serving it.
func (st *state) authorize() grpc.UnaryServerInterceptor {
	return iamemu.UnaryInterceptor("automlemu", func() iamemu.Authorizer { return st.opts.Authorizer },
		func(method string, req any) ([]iamemu.Need, bool) {
			r, ok := iamRules[method]
			if !ok {
				return nil, false
			}
			return []iamemu.Need{{Permission: r.permission, Resource: iamemu.ProjectResource(r.name(req), st.opts.Project, st.opts.ProjectNumber)}}, true
		})
}
