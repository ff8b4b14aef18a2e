package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dropcast/dropcast/shared/run"
)

// Drop uploads data as gs://INBOX/object, as a user would, and returns the
// ID of the run its event will start (empty when no spec takes the object).
func (s *Stack) Drop(ctx context.Context, object string, data []byte) (string, error) {
	return s.DropFrom(ctx, object, bytes.NewReader(data))
}

// DropFrom is Drop with the object's contents streamed from r: the upload
// holds one chunk of it at a time, whatever its size.
func (s *Stack) DropFrom(ctx context.Context, object string, r io.Reader) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the upload on a read error
	w := s.Storage.Bucket(InboxBucket).Object(object).NewWriter(ctx)
	if _, err := io.Copy(w, r); err != nil {
		return "", fmt.Errorf("upload %s: %w", object, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("upload %s: %w", object, err)
	}
	return s.RunID(ctx, object, w.Attrs().Generation)
}

// RunID is the ID of the run for an object generation, or "" when no spec takes it.
func (s *Stack) RunID(ctx context.Context, object string, generation int64) (string, error) {
	set, err := s.App.Specs.Set(ctx)
	if err != nil {
		return "", err
	}
	p, _, ok := set.Match(object)
	if !ok {
		return "", nil
	}
	return run.ID(p.Name, run.Source{Bucket: InboxBucket, Object: object, Generation: generation}), nil
}

// Wait waits until run id has finished, calling progress (if not nil) with
// the record whenever it changes. It returns the final record.
func (s *Stack) Wait(ctx context.Context, id string, progress func(*run.Run)) (*run.Run, error) {
	var last int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := s.App.Runs.Get(ctx, id)
		switch {
		case errors.Is(err, run.ErrNotFound):
			// the event has not arrived yet
		case err != nil:
			return nil, err
		default:
			if r.Generation() != last && progress != nil {
				progress(r)
			}
			last = r.Generation()
			if r.Terminal() {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for run %s: %w", id, ctx.Err())
		case <-tick.C:
		}
	}
}
