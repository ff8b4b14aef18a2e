// Package platform creates the Google Cloud clients a process needs, once, from
// the configuration: the real services by default, local emulators when their
// endpoints are set.
package platform

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/bigquery"
	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// Clients are the process's service clients.
type Clients struct {
	Storage  *storage.Client
	Tasks    *cloudtasks.Client
	BigQuery *bigquery.Client
	PubSub   *pubsub.Client
}

// GRPCEmulator returns the options that point a gRPC client at an emulator
// (plaintext, no Google credentials; identity, if set, as the bearer token
// of every call), or none for the real service.
func GRPCEmulator(endpoint, identity string) []option.ClientOption {
	if endpoint == "" {
		return nil
	}
	opts := []option.ClientOption{
		option.WithEndpoint(endpoint),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	if identity != "" {
		opts = append(opts, option.WithGRPCDialOption(iamemu.GRPCDialOption(identity)))
	}
	return opts
}

// RESTEmulator returns the options that point an HTTP client at an emulator
// (identity, if set, as the bearer token of every request).
func RESTEmulator(endpoint, identity string) []option.ClientOption {
	if endpoint == "" {
		return nil
	}
	return append([]option.ClientOption{option.WithEndpoint(endpoint)}, iamemu.ClientOptions(identity)...)
}

// Connect creates the clients.
func Connect(ctx context.Context, cfg config.Config) (*Clients, error) {
	var c Clients
	var err error
	id := cfg.EmulatorIdentity
	sopts := RESTEmulator(cfg.StorageEndpoint, id)
	if cfg.StorageEndpoint != "" {
		sopts = append(sopts, storage.WithJSONReads())
	}
	if c.Storage, err = storage.NewClient(ctx, sopts...); err != nil {
		return nil, fmt.Errorf("storage.NewClient: %w", err)
	}
	if c.Tasks, err = cloudtasks.NewClient(ctx, GRPCEmulator(cfg.TasksEndpoint, id)...); err != nil {
		c.Close()
		return nil, fmt.Errorf("cloudtasks.NewClient: %w", err)
	}
	if c.BigQuery, err = bigquery.NewClient(ctx, cfg.Project, RESTEmulator(cfg.BigQueryEndpoint, id)...); err != nil {
		c.Close()
		return nil, fmt.Errorf("bigquery.NewClient: %w", err)
	}
	c.BigQuery.Location = cfg.BigQueryLocation
	if c.PubSub, err = pubsub.NewClient(ctx, cfg.Project, GRPCEmulator(cfg.PubSubEndpoint, id)...); err != nil {
		c.Close()
		return nil, fmt.Errorf("pubsub.NewClient: %w", err)
	}
	return &c, nil
}

// Close closes every client that was created.
func (c *Clients) Close() error {
	var errs []error
	if c.Storage != nil {
		errs = append(errs, c.Storage.Close())
	}
	if c.Tasks != nil {
		errs = append(errs, c.Tasks.Close())
	}
	if c.BigQuery != nil {
		errs = append(errs, c.BigQuery.Close())
	}
	if c.PubSub != nil {
		errs = append(errs, c.PubSub.Close())
	}
	return errors.Join(errs...)
}
