package automl

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/status"
)

// getOperation reads an operation once, with its metadata.
func (b *Backend) getOperation(ctx context.Context, name string) (*longrunningpb.Operation, *automlpb.OperationMetadata, error) {
	if _, err := locationOfOperation(name); err != nil {
		return nil, nil, err
	}
	op, err := b.models.LROClient.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		return nil, nil, fmt.Errorf("automl: get operation %s: %w", name, err)
	}
	meta, err := metadataOf(op)
	if err != nil {
		return nil, nil, err
	}
	return op, meta, nil
}

func metadataOf(op *longrunningpb.Operation) (*automlpb.OperationMetadata, error) {
	meta := &automlpb.OperationMetadata{}
	if op.GetMetadata() == nil {
		return meta, nil
	}
	if err := op.GetMetadata().UnmarshalTo(meta); err != nil {
		return nil, fmt.Errorf("automl: operation %s metadata: %w", op.GetName(), err)
	}
	return meta, nil
}

// operationError is a failed operation's error, or nil.
func operationError(op *longrunningpb.Operation) error {
	if e := op.GetError(); e != nil {
		return fmt.Errorf("automl: operation %s failed: %w", op.GetName(), status.ErrorProto(e))
	}
	return nil
}

// worksOn is the ListOperations filter for the operations on model, in the
// one form the AutoML reference documents (projects.locations.operations.list:
// "worksOn - for = or !=.", e.g. "worksOn =
// projects/my-project/locations/us-central1/models/15"). model must be the
// name the service itself answers with (GetModel(...).GetName(), which carries
// the project number), never a name compared by its project segment.
func worksOn(model string) string { return "worksOn = " + model }

// listOperations lists the operations in model's location matching filter.
func (b *Backend) listOperations(ctx context.Context, model, filter string, fn func(*longrunningpb.Operation, *automlpb.OperationMetadata) (stop bool)) error {
	parent, err := locationOf(model)
	if err != nil {
		return err
	}
	it := b.models.LROClient.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: parent, Filter: filter})
	for {
		op, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("automl: list operations %q: %w", filter, err)
		}
		meta, err := metadataOf(op)
		if err != nil {
			return err
		}
		if fn(op, meta) {
			return nil
		}
	}
}

// PollOperation checks a deploy or undeploy operation once.
func (b *Backend) PollOperation(ctx context.Context, op string) (bool, error) {
	o, _, err := b.getOperation(ctx, op)
	if err != nil {
		return false, err
	}
	if !o.GetDone() {
		return false, nil
	}
	return true, operationError(o)
}
