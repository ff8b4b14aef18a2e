package vertexemu

import (
	"strings"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// rule is what one method needs: a permission and the resource name in the
// request it is checked against (the emulator checks it on that name's
// project, see projectResource).
type rule func(s *Server, req any) (permission, name string)

const (
	jobSvc  = "/google.cloud.aiplatform.v1.JobService/"
	modSvc  = "/google.cloud.aiplatform.v1.ModelService/"
	epSvc   = "/google.cloud.aiplatform.v1.EndpointService/"
	predSvc = "/google.cloud.aiplatform.v1.PredictionService/"
	opsSvc  = "/google.longrunning.Operations/"
)

// fixed is a rule with a fixed permission on the request's name field.
func fixed[R any](permission string, name func(R) string) rule {
	return func(_ *Server, req any) (string, string) { return permission, name(req.(R)) }
}

// iamRules is what each method the emulator serves needs, by full gRPC
// method name. Each row rests on the method's page in the Vertex AI REST
// reference (https://cloud.google.com/vertex-ai/docs/reference/rest/v1/...),
// whose "IAM Permissions" section reads "Requires the following IAM
// permission on the <field> resource: <permission>":
//
//	projects.locations.batchPredictionJobs/create  parent    aiplatform.batchPredictionJobs.create
//	projects.locations.models/get                  name      aiplatform.models.get
//	projects.locations.endpoints/create            parent    aiplatform.endpoints.create
//	projects.locations.endpoints/deployModel       endpoint  aiplatform.endpoints.deploy
//	projects.locations.endpoints/undeployModel     endpoint  aiplatform.endpoints.undeploy
//	projects.locations.endpoints/predict           endpoint  aiplatform.endpoints.predict
//
// The rows for get/list/cancel of batch prediction jobs come from "Vertex AI
// IAM permissions" (https://cloud.google.com/vertex-ai/docs/general/iam-permissions,
// read in its Spanish edition, ?hl=es, whose cells the search tool returned):
// "aiplatform.batchPredictionJobs.cancel (se necesita permiso en el recurso
// name)", "aiplatform.batchPredictionJobs.get (permiso necesario en el recurso
// name)", "aiplatform.batchPredictionJobs.list (permiso necesario en el
// recurso parent)". models.list, endpoints.get and endpoints.list follow the
// same page's naming (aiplatform.<collection>.<verb>); their own reference
// pages were not retrieved, so they are this naming, not a quotation.
//
// Vertex AI grants are project-level here: "Predefined roles let you grant a
// set of related permissions to your Vertex AI resources at the project
// level" ("Vertex AI access control with IAM",
// https://cloud.google.com/vertex-ai/docs/general/access-control), so every
// permission is checked on projects/P, P the project ID even when the
// request names the project by number.
var iamRules = map[string]rule{
	jobSvc + "CreateBatchPredictionJob": fixed("aiplatform.batchPredictionJobs.create", (*aiplatformpb.CreateBatchPredictionJobRequest).GetParent),
	jobSvc + "GetBatchPredictionJob":    fixed("aiplatform.batchPredictionJobs.get", (*aiplatformpb.GetBatchPredictionJobRequest).GetName),
	jobSvc + "ListBatchPredictionJobs":  fixed("aiplatform.batchPredictionJobs.list", (*aiplatformpb.ListBatchPredictionJobsRequest).GetParent),
	jobSvc + "CancelBatchPredictionJob": fixed("aiplatform.batchPredictionJobs.cancel", (*aiplatformpb.CancelBatchPredictionJobRequest).GetName),
	modSvc + "GetModel":                 fixed("aiplatform.models.get", (*aiplatformpb.GetModelRequest).GetName),
	modSvc + "ListModels":               fixed("aiplatform.models.list", (*aiplatformpb.ListModelsRequest).GetParent),
	epSvc + "CreateEndpoint":            fixed("aiplatform.endpoints.create", (*aiplatformpb.CreateEndpointRequest).GetParent),
	epSvc + "GetEndpoint":               fixed("aiplatform.endpoints.get", (*aiplatformpb.GetEndpointRequest).GetName),
	epSvc + "ListEndpoints":             fixed("aiplatform.endpoints.list", (*aiplatformpb.ListEndpointsRequest).GetParent),
	epSvc + "DeployModel":               fixed("aiplatform.endpoints.deploy", (*aiplatformpb.DeployModelRequest).GetEndpoint),
	epSvc + "UndeployModel":             fixed("aiplatform.endpoints.undeploy", (*aiplatformpb.UndeployModelRequest).GetEndpoint),
	predSvc + "Predict":                 fixed("aiplatform.endpoints.predict", (*aiplatformpb.PredictRequest).GetEndpoint),

	// Operations. "Vertex AI IAM permissions" lists, for an operation that
	// "Starts a long-running operation", the "Other permissions" its
	// operation needs; for batchPredictionJobs delete (Spanish edition):
	// "aiplatform.batchPredictionJobs.get (para llamar a GET en la operación
	// de larga duración devuelta)", the same for DELETE and WAIT, and
	// "aiplatform.batchPredictionJobs.delete (para llamar a CANCEL en la
	// operación de larga duración devuelta)". The emulator applies that
	// pattern to the operations it starts, all under an endpoint
	// (projects/P/locations/L/endpoints/E/operations/ID): GET, DELETE and
	// WAIT need aiplatform.endpoints.get; CANCEL needs the permission of the
	// method that started the operation. ListOperations is not in that
	// table: the emulator requires aiplatform.operations.list, a permission
	// of the predefined Vertex AI roles, which no page read ties to this
	// method (an assumption, not a quotation).
	opsSvc + "GetOperation":    opRead((*longrunningpb.GetOperationRequest).GetName),
	opsSvc + "WaitOperation":   opRead((*longrunningpb.WaitOperationRequest).GetName),
	opsSvc + "DeleteOperation": opRead((*longrunningpb.DeleteOperationRequest).GetName),
	opsSvc + "CancelOperation": func(s *Server, req any) (string, string) {
		name := req.(*longrunningpb.CancelOperationRequest).GetName()
		return s.cancelPermission(name), name
	},
	opsSvc + "ListOperations": fixed("aiplatform.operations.list", (*longrunningpb.ListOperationsRequest).GetName),
}

// opRead is the rule for reading an operation: <collection>.get of the
// resource the operation runs on.
func opRead[R any](name func(R) string) rule {
	return func(_ *Server, req any) (string, string) {
		n := name(req.(R))
		return "aiplatform." + collectionOf(n) + ".get", n
	}
}

// collectionOf is C of projects/P/locations/L/C/ID/operations/OP, or
// "operations" for an operation directly under the location.
func collectionOf(op string) string {
	parts := strings.Split(op, "/")
	if len(parts) >= 8 && parts[6] == "operations" {
		return parts[4]
	}
	return "operations"
}

// cancelPermission is the permission of the method that started operation
// name, known from the operation's metadata type.
func (s *Server) cancelPermission(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, err := s.lookupOperation(name); err == nil && o.op.GetMetadata() != nil {
		md := o.op.GetMetadata()
		switch {
		case md.MessageIs(&aiplatformpb.DeployModelOperationMetadata{}):
			return "aiplatform.endpoints.deploy"
		case md.MessageIs(&aiplatformpb.UndeployModelOperationMetadata{}):
			return "aiplatform.endpoints.undeploy"
		case md.MessageIs(&aiplatformpb.CreateEndpointOperationMetadata{}):
			return "aiplatform.endpoints.create"
		}
	}
	// Unknown operation: the read permission; the call then answers NotFound.
	return "aiplatform." + collectionOf(name) + ".get"
}

// authorize checks every call against Options.Authorizer before serving it.
func (s *Server) authorize() grpc.UnaryServerInterceptor {
	return iamemu.UnaryInterceptor("vertexemu", func() iamemu.Authorizer { return s.opts.Authorizer },
		func(method string, req any) ([]iamemu.Need, bool) {
			r, ok := iamRules[method]
			if !ok {
				return nil, false
			}
			perm, name := r(s, req)
			return []iamemu.Need{{Permission: perm, Resource: iamemu.ProjectResource(name, s.opts.Project, s.opts.ProjectNumber)}}, true
		})
}
