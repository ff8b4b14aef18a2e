package automl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/protobuf/proto"

	"github.com/dropcast/dropcast/shared/gcsuri"
)

// markerName is the object, under a batch's output prefix, that records which
// operation started the batch.
const markerName = "automl-batch-operation.json"

// clockSkew is how much earlier than a claim an operation may seem to have
// been created (the service's clock against ours) and still be the claim's.
const clockSkew = time.Minute

// marker is the content of the marker object.
type marker struct {
	Key       string    `json:"key"`
	Model     string    `json:"model"`
	ClaimedAt time.Time `json:"claimed_at"`
	// Operation is empty while the claimer is starting the batch.
	Operation string `json:"operation,omitempty"`
}

// startOnce starts s unless a caller with the same key did. The protocol,
// all through object generations:
//  1. a marker that names an operation: that is the batch;
//  2. no marker: create it (if it does not exist) as a claim, call
//     BatchPredict, then write the operation into it (if the generation
//     still matches). A failed BatchPredict removes the claim;
//  3. a claim without an operation (its claimer is starting, or crashed
//     between BatchPredict and recording): look for an operation on the
//     model with the same input created since the claim (ListOperations,
//     filter worksOn, naming the model as the service does) and adopt it;
//     else wait for the claimer until
//     ClaimTimeout, then take the claim over.
func (b *Backend) startOnce(ctx context.Context, s batchStart) (string, error) {
	bucket, object, err := gcsuri.Split(s.output + "/" + markerName)
	if err != nil {
		return "", err
	}
	h := b.cfg.Storage.Bucket(bucket).Object(object)
	for range 4 {
		m, gen, err := readMarker(ctx, h)
		if err != nil {
			return "", fmt.Errorf("automl: batch %s: %w", s.key, err)
		}
		if m.Operation != "" {
			return m.Operation, nil
		}
		if s.input == nil {
			// Only now: a recorded operation needs no listing of the inputs.
			if s.input, err = b.resolveInput(ctx, s.raw); err != nil {
				return "", fmt.Errorf("automl: batch %s: %w", s.key, err)
			}
		}
		cond := storage.Conditions{DoesNotExist: true}
		if gen != 0 {
			op, err := b.findStarted(ctx, s, m.ClaimedAt)
			if err != nil {
				return "", err
			}
			if op != "" {
				m.Operation = op
				// Losing this race is harmless: the winner recorded op too.
				if _, err := writeMarker(ctx, h.If(storage.Conditions{GenerationMatch: gen}), m); err != nil && !isPrecondition(err) {
					return "", fmt.Errorf("automl: batch %s: record operation: %w", s.key, err)
				}
				return op, nil
			}
			if age := time.Since(m.ClaimedAt); age < b.cfg.ClaimTimeout {
				return "", fmt.Errorf("automl: batch %s is being started by another caller (claimed %s ago); retry later", s.key, age.Round(time.Second))
			}
			cond = storage.Conditions{GenerationMatch: gen}
		}
		claim := marker{Key: s.key, Model: s.model, ClaimedAt: time.Now().UTC()}
		newGen, err := writeMarker(ctx, h.If(cond), claim)
		if isPrecondition(err) {
			continue // another caller got there first: look again
		}
		if err != nil {
			return "", fmt.Errorf("automl: batch %s: claim: %w", s.key, err)
		}
		op, err := b.callBatchPredict(ctx, s)
		if err != nil {
			if derr := h.If(storage.Conditions{GenerationMatch: newGen}).Delete(ctx); derr != nil {
				return "", errors.Join(err, fmt.Errorf("automl: batch %s: release claim: %w", s.key, derr))
			}
			return "", err
		}
		claim.Operation = op
		if _, err := writeMarker(ctx, h.If(storage.Conditions{GenerationMatch: newGen}), claim); err != nil {
			return "", fmt.Errorf("automl: batch %s: started %s but could not record it (a retry adopts it): %w", s.key, op, err)
		}
		return op, nil
	}
	return "", fmt.Errorf("automl: batch %s: marker gs://%s/%s keeps changing", s.key, bucket, object)
}

// findStarted looks for a batch operation on s.model with s's input, created
// since claimedAt, whose output directory (once reported) is under s.output;
// the earliest such operation is the claimer's. An operation that matches but
// has not reported its output directory yet may belong to another key with the
// same input: it is not adopted, and the caller is asked to retry.
func (b *Backend) findStarted(ctx context.Context, s batchStart, claimedAt time.Time) (string, error) {
	model, err := b.serviceName(ctx, s.model)
	if err != nil {
		return "", fmt.Errorf("automl: batch %s: %w", s.key, err)
	}
	var found string
	var foundAt time.Time
	ambiguous := false
	err = b.listOperations(ctx, model, worksOn(model), func(op *longrunningpb.Operation, meta *automlpb.OperationMetadata) bool {
		d := meta.GetBatchPredictDetails()
		if d == nil || !proto.Equal(d.GetInputConfig(), s.input) {
			return false
		}
		created := meta.GetCreateTime().AsTime()
		if created.Before(claimedAt.Add(-clockSkew)) {
			return false
		}
		dir := d.GetOutputInfo().GetGcsOutputDirectory()
		if dir == "" {
			ambiguous = true
			return false
		}
		if !hasDirPrefix(dir, s.output) {
			return false
		}
		if found == "" || created.Before(foundAt) {
			found, foundAt = op.GetName(), created
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("automl: batch %s: look for a started operation: %w", s.key, err)
	}
	if found == "" && ambiguous {
		return "", fmt.Errorf("automl: batch %s: an operation with this input has not reported its output yet; retry once it has", s.key)
	}
	return found, nil
}

// readMarker reads the marker and its generation (0: there is none).
func readMarker(ctx context.Context, h *storage.ObjectHandle) (marker, int64, error) {
	r, err := h.NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return marker{}, 0, nil
	}
	if err != nil {
		return marker{}, 0, fmt.Errorf("read marker %s: %w", h.ObjectName(), err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return marker{}, 0, fmt.Errorf("read marker %s: %w", h.ObjectName(), err)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return marker{}, 0, fmt.Errorf("parse marker %s: %w", h.ObjectName(), err)
	}
	return m, r.Attrs.Generation, nil
}

// writeMarker writes m through a conditional handle and returns the new generation.
func writeMarker(ctx context.Context, h *storage.ObjectHandle, m marker) (int64, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("encode marker: %w", err)
	}
	w := h.NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(b); err != nil {
		w.Close()
		return 0, fmt.Errorf("write marker %s: %w", h.ObjectName(), err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("write marker %s: %w", h.ObjectName(), err)
	}
	return w.Attrs().Generation, nil
}

// isPrecondition reports a failed generation precondition (HTTP 412).
func isPrecondition(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}
