package localstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/spec"
)

// provision creates what Terraform creates in production: the queue, the
// BigQuery datasets the specs name, and the specs in the state bucket.
func (s *Stack) provision(ctx context.Context, specs map[string][]byte) error {
	set, err := spec.ParseSet(specs)
	if err != nil {
		return fmt.Errorf("localstack: specs: %w", err)
	}
	for name, b := range specs {
		w := s.Storage.Bucket(StateBucket).Object("specs/" + name).NewWriter(ctx)
		w.ContentType = "application/yaml"
		if _, err := w.Write(b); err != nil {
			w.Close()
			return fmt.Errorf("localstack: upload spec %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("localstack: upload spec %s: %w", name, err)
		}
	}
	_, err = s.App.Clients.Tasks.CreateQueue(ctx, &cloudtaskspb.CreateQueueRequest{
		Parent: "projects/" + Project + "/locations/" + Region,
		Queue: &cloudtaskspb.Queue{
			Name:       s.Config.TasksQueue,
			RateLimits: &cloudtaskspb.RateLimits{MaxDispatchesPerSecond: 500, MaxConcurrentDispatches: 50},
			RetryConfig: &cloudtaskspb.RetryConfig{
				MaxAttempts:  int32(s.Config.MaxAttempts),
				MinBackoff:   durationpb.New(s.Config.PollInterval / 2),
				MaxBackoff:   durationpb.New(2 * s.Config.PollInterval),
				MaxDoublings: 3,
			},
		},
	})
	if err != nil {
		return fmt.Errorf("localstack: create queue: %w", err)
	}
	datasets := map[[2]string]bool{}
	for _, p := range set.Pipelines {
		for _, t := range []string{p.Destination.Table, p.Results.Table} {
			if t == "" {
				continue
			}
			tb := bqload.ParseTable(t, Project)
			datasets[[2]string{tb.Project, tb.Dataset}] = true
		}
	}
	for d := range datasets {
		err := s.App.Clients.BigQuery.DatasetInProject(d[0], d[1]).Create(ctx, &bigquery.DatasetMetadata{Location: "US"})
		var gerr *googleapi.Error
		if err != nil && !(errors.As(err, &gerr) && gerr.Code == http.StatusConflict) {
			return fmt.Errorf("localstack: create dataset %s.%s: %w", d[0], d[1], err)
		}
	}
	return nil
}
