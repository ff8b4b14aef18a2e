package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// ActivePrefix holds one empty marker object per run that is not finished
// with: running, or ended but not yet announced. The sweep reads these
// instead of every record ever written, so its cost follows the live runs,
// not the history.
const ActivePrefix = "active/"

// Marker is an active-run marker.
type Marker struct {
	ID      string
	Created time.Time
}

// MarkActive records that run id is live. It is written before the run's
// record, so a record never exists without its marker while it matters.
func (s *Store) MarkActive(ctx context.Context, id string) error {
	w := s.marker(id).NewWriter(ctx)
	w.ChunkSize = googleapi.MinUploadChunkSize
	if err := w.Close(); err != nil {
		return fmt.Errorf("mark run %s active: %w", id, err)
	}
	return nil
}

// ClearActive removes run id's marker; a missing marker is fine.
func (s *Store) ClearActive(ctx context.Context, id string) error {
	err := s.marker(id).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("clear active mark of run %s: %w", id, err)
	}
	return nil
}

// marker is run id's marker object. Writing or deleting an empty marker
// twice is harmless, so both are retried whatever their preconditions.
func (s *Store) marker(id string) *storage.ObjectHandle {
	return s.bucket.Object(ActivePrefix + id).Retryer(storage.WithPolicy(storage.RetryAlways))
}

// Active lists the active-run markers.
func (s *Store) Active(ctx context.Context) ([]Marker, error) {
	var ms []Marker
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: ActivePrefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return ms, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list active runs: %w", err)
		}
		ms = append(ms, Marker{ID: strings.TrimPrefix(a.Name, ActivePrefix), Created: a.Created})
	}
}

// Exists reports whether run id has a record, without reading it.
func (s *Store) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.object(id).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up run %s: %w", id, err)
	}
	return true, nil
}
