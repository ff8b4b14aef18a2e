package vertexemu

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// endpoint is one endpoint; pb.DeployedModels lists the serving models.
type endpoint struct {
	pb *aiplatformpb.Endpoint
}

// validEndpointID says whether a caller may choose id, as Vertex AI
// documents it: up to 63 of [a-z0-9-] starting with a letter and ending in a
// letter or digit, or up to 9 digits without a leading zero.
func validEndpointID(id string) bool {
	if id == "" {
		return false
	}
	digits := strings.Trim(id, "0123456789") == ""
	if digits {
		return len(id) <= 9 && id[0] != '0'
	}
	last := id[len(id)-1]
	return len(id) <= 63 && id[0] >= 'a' && id[0] <= 'z' && last != '-' &&
		strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// CreateEndpoint creates an endpoint; the operation is done at once.
func (s *Server) CreateEndpoint(_ context.Context, req *aiplatformpb.CreateEndpointRequest) (*longrunningpb.Operation, error) {
	if err := s.checkParent(req.GetParent()); err != nil {
		return nil, err
	}
	if req.GetEndpoint().GetDisplayName() == "" {
		return nil, status.Error(codes.InvalidArgument, "endpoint.display_name is required")
	}
	id := req.GetEndpointId()
	if id != "" && !validEndpointID(id) {
		return nil, status.Errorf(codes.InvalidArgument, "invalid endpoint_id %q: want [a-z][a-z0-9-]* up to 63 characters ending in a letter or digit, or up to 9 digits", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = s.newID()
	}
	name := s.parent() + "/endpoints/" + id
	if _, ok := s.endpoints[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "endpoint %s already exists", name)
	}
	now := timestamppb.Now()
	pb := proto.Clone(req.GetEndpoint()).(*aiplatformpb.Endpoint)
	pb.Name, pb.CreateTime, pb.UpdateTime = name, now, now
	pb.DeployedModels, pb.TrafficSplit = nil, nil
	s.endpoints[name] = &endpoint{pb: pb}
	meta := &aiplatformpb.CreateEndpointOperationMetadata{GenericMetadata: &aiplatformpb.GenericOperationMetadata{CreateTime: now, UpdateTime: now}}
	return s.startOperation(name, meta, 0, func() (proto.Message, error) {
		return proto.Clone(pb), nil
	}, nil)
}

// GetEndpoint returns an endpoint with its deployed models.
func (s *Server) GetEndpoint(_ context.Context, req *aiplatformpb.GetEndpointRequest) (*aiplatformpb.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, err := s.lookupEndpoint(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.Clone(ep.pb).(*aiplatformpb.Endpoint), nil
}

// ListEndpoints lists endpoints by name, filtered on display_name.
func (s *Server) ListEndpoints(_ context.Context, req *aiplatformpb.ListEndpointsRequest) (*aiplatformpb.ListEndpointsResponse, error) {
	if err := s.checkParent(req.GetParent()); err != nil {
		return nil, err
	}
	filter, err := parseFilter(req.GetFilter(), "display_name")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var all []*aiplatformpb.Endpoint
	for _, ep := range s.endpoints {
		if matches(filter, "display_name", ep.pb.DisplayName) {
			all = append(all, proto.Clone(ep.pb).(*aiplatformpb.Endpoint))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *aiplatformpb.Endpoint) int { return strings.Compare(a.Name, b.Name) })
	eps, next, err := page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &aiplatformpb.ListEndpointsResponse{Endpoints: eps, NextPageToken: next}, nil
}

// DeployModel deploys a registered model to an endpoint; it serves once
// the operation completes, DeployLatency later.
func (s *Server) DeployModel(_ context.Context, req *aiplatformpb.DeployModelRequest) (*longrunningpb.Operation, error) {
	dm := req.GetDeployedModel()
	modelID, err := s.modelID(dm.GetModel())
	if err != nil {
		return nil, err
	}
	if err := checkResources(dm); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, err := s.lookupEndpoint(req.GetEndpoint())
	if err != nil {
		return nil, err
	}
	if err := checkSplit(req.GetTrafficSplit(), ep.pb.DeployedModels, true); err != nil {
		return nil, err
	}
	d := &deployment{modelID: modelID, deployedID: s.newID(), endpoint: ep.pb.Name, since: time.Now()}
	fail := take(&s.faults.FailDeploy)
	s.stats.begin(d)
	now := timestamppb.Now()
	meta := &aiplatformpb.DeployModelOperationMetadata{
		GenericMetadata: &aiplatformpb.GenericOperationMetadata{CreateTime: now, UpdateTime: now},
		DeploymentStage: aiplatformpb.DeploymentStage_STARTING_MODEL_SERVER,
	}
	served := proto.Clone(dm).(*aiplatformpb.DeployedModel)
	served.Id, served.Model, served.ModelVersionId, served.CreateTime = d.deployedID, s.ModelName(modelID), "1", now
	if served.DisplayName == "" {
		served.DisplayName = modelID
	}
	return s.startOperation(ep.pb.Name, meta, s.opts.DeployLatency, func() (proto.Message, error) {
		if fail {
			s.stats.end(d.deployedID)
			return nil, status.Errorf(codes.Internal, "injected failure: deploying model %s failed", modelID)
		}
		ep.pb.DeployedModels = append(ep.pb.DeployedModels, served)
		ep.pb.TrafficSplit = trafficAfterDeploy(ep.pb.TrafficSplit, req.GetTrafficSplit(), served.Id)
		ep.pb.UpdateTime = timestamppb.Now()
		return &aiplatformpb.DeployModelResponse{DeployedModel: proto.Clone(served).(*aiplatformpb.DeployedModel)}, nil
	}, func() { s.stats.end(d.deployedID) })
}

// checkResources requires dedicated (or automatic) resources with at least
// one replica, as Vertex AI does for models like these.
func checkResources(dm *aiplatformpb.DeployedModel) error {
	if r := dm.GetDedicatedResources(); r != nil {
		if r.GetMachineSpec().GetMachineType() == "" || r.GetMinReplicaCount() < 1 {
			return status.Error(codes.InvalidArgument, "dedicated_resources needs machine_spec.machine_type and min_replica_count >= 1")
		}
		return nil
	}
	if r := dm.GetAutomaticResources(); r != nil && r.GetMinReplicaCount() >= 1 {
		return nil
	}
	return status.Error(codes.InvalidArgument, "deployed_model needs dedicated_resources (or automatic_resources) with min_replica_count >= 1")
}

// trafficAfterDeploy is an endpoint's traffic split once deployedID
// serves. DeployModelRequest.traffic_split (endpoint_service.proto): "If
// this field is non-empty, then the Endpoint's traffic_split will be
// overwritten with it. To refer to the ID of the just being deployed Model, a
// "0" should be used ... If this field is empty, then the Endpoint's
// traffic_split is not updated."
func trafficAfterDeploy(current, requested map[string]int32, deployedID string) map[string]int32 {
	if len(requested) == 0 {
		return current
	}
	out := map[string]int32{}
	for id, pct := range requested {
		if id == "0" {
			id = deployedID
		}
		out[id] = pct
	}
	return out
}

// checkSplit checks a requested traffic split against the endpoint's
// deployed models (and the model being deployed, "0", when deploying):
// Endpoint.traffic_split "values must add up to 100, or map must be empty".
func checkSplit(split map[string]int32, deployed []*aiplatformpb.DeployedModel, deploying bool) error {
	if len(split) == 0 {
		return nil
	}
	var sum int32
	for id, pct := range split {
		known := deploying && id == "0" || slices.ContainsFunc(deployed, func(dm *aiplatformpb.DeployedModel) bool { return dm.Id == id })
		if !known {
			return status.Errorf(codes.InvalidArgument, "traffic_split names %q, which is not a model deployed on the endpoint", id)
		}
		if pct < 0 || pct > 100 {
			return status.Errorf(codes.InvalidArgument, "traffic_split[%q] = %d is not a percentage", id, pct)
		}
		sum += pct
	}
	if sum != 100 {
		return status.Errorf(codes.InvalidArgument, "traffic_split percentages add up to %d, want 100", sum)
	}
	return nil
}

// UndeployModel removes a deployed model; it stops serving and billing
// when the operation completes, UndeployLatency later. As
// UndeployModelRequest.traffic_split documents (fixture
// vertex-undeploy-traffic), a model that is not the endpoint's last is
// undeployed only if no traffic is assigned to it or the request's split
// unassigns it; the request's split, when given, replaces the endpoint's, and
// the last model's undeploy leaves the split empty.
func (s *Server) UndeployModel(_ context.Context, req *aiplatformpb.UndeployModelRequest) (*longrunningpb.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep, err := s.lookupEndpoint(req.GetEndpoint())
	if err != nil {
		return nil, err
	}
	id := req.GetDeployedModelId()
	if !slices.ContainsFunc(ep.pb.DeployedModels, func(dm *aiplatformpb.DeployedModel) bool { return dm.Id == id }) {
		return nil, status.Errorf(codes.NotFound, "deployed model %q not found on %s", id, ep.pb.Name)
	}
	split := req.GetTrafficSplit()
	if err := checkSplit(split, ep.pb.DeployedModels, false); err != nil {
		return nil, err
	}
	last := len(ep.pb.DeployedModels) == 1
	if !last {
		assigned := ep.pb.TrafficSplit[id]
		if len(split) > 0 {
			assigned = split[id]
		}
		if assigned > 0 {
			return nil, status.Errorf(codes.FailedPrecondition, "deployed model %s has %d%% of the traffic of %s; unassign it in traffic_split before undeploying it", id, assigned, ep.pb.Name)
		}
	}
	now := timestamppb.Now()
	meta := &aiplatformpb.UndeployModelOperationMetadata{GenericMetadata: &aiplatformpb.GenericOperationMetadata{CreateTime: now, UpdateTime: now}}
	return s.startOperation(ep.pb.Name, meta, s.opts.UndeployLatency, func() (proto.Message, error) {
		ep.pb.DeployedModels = slices.DeleteFunc(ep.pb.DeployedModels, func(dm *aiplatformpb.DeployedModel) bool { return dm.Id == id })
		switch {
		case len(ep.pb.DeployedModels) == 0:
			ep.pb.TrafficSplit = nil
		case len(split) > 0:
			ep.pb.TrafficSplit = maps.Clone(split)
			delete(ep.pb.TrafficSplit, id)
		default:
			delete(ep.pb.TrafficSplit, id)
		}
		ep.pb.UpdateTime = timestamppb.Now()
		s.stats.end(id)
		return &aiplatformpb.UndeployModelResponse{}, nil
	}, nil)
}

func (s *Server) lookupEndpoint(name string) (*endpoint, error) {
	ep, ok := s.endpoints[s.canon(name)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "endpoint %q not found", name)
	}
	return ep, nil
}
