package vertexemu

import (
	"context"
	"maps"
	"slices"
	"strings"

	"cloud.google.com/go/aiplatform/apiv1/aiplatformpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dropcast/dropcast/shared/model"
)

// GetModel returns a registered model.
func (s *Server) GetModel(_ context.Context, req *aiplatformpb.GetModelRequest) (*aiplatformpb.Model, error) {
	id, err := s.modelID(req.GetName())
	if err != nil {
		return nil, err
	}
	return s.modelProto(id), nil
}

// ListModels lists the registered models by ID, filtered on display_name.
func (s *Server) ListModels(_ context.Context, req *aiplatformpb.ListModelsRequest) (*aiplatformpb.ListModelsResponse, error) {
	if err := s.checkParent(req.GetParent()); err != nil {
		return nil, err
	}
	filter, err := parseFilter(req.GetFilter(), "display_name")
	if err != nil {
		return nil, err
	}
	var all []*aiplatformpb.Model
	for _, id := range slices.Sorted(maps.Keys(s.opts.Models)) {
		if matches(filter, "display_name", id) {
			all = append(all, s.modelProto(id))
		}
	}
	models, next, err := page(all, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &aiplatformpb.ListModelsResponse{Models: models, NextPageToken: next}, nil
}

// modelProto describes registered model id as a Vertex Model.
func (s *Server) modelProto(id string) *aiplatformpb.Model {
	m := s.opts.Models[id]
	created := timestamppb.New(s.started)
	return &aiplatformpb.Model{
		Name:           s.ModelName(id),
		DisplayName:    id,
		Description:    description(m),
		VersionId:      "1",
		VersionAliases: []string{"default"},
		SupportedDeploymentResourcesTypes: []aiplatformpb.Model_DeploymentResourcesType{
			aiplatformpb.Model_DEDICATED_RESOURCES,
		},
		SupportedInputStorageFormats:  []string{"csv", "bigquery"},
		SupportedOutputStorageFormats: []string{"csv"},
		CreateTime:                    created,
		UpdateTime:                    created,
		VersionCreateTime:             created,
		VersionUpdateTime:             created,
	}
}

// description says what a model predicts, from what.
func description(m model.Predictor) string {
	what := "regression"
	if m.Task() == model.Classification {
		what = "classes " + strings.Join(m.Classes(), ", ")
	}
	return "dropcast model predicting " + m.Target() + " (" + what + ") from " + strings.Join(m.Columns(), ", ")
}
