package run

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// epochKey is the marker's metadata key naming the newest epoch it was
// written for. A marker without it (written by an earlier version) counts
// as epoch 0, which any ended epoch may clear.
const epochKey = "epoch"

// Marker is an active-run marker.
type Marker struct {
	ID      string
	Created time.Time
	// Epoch is the newest epoch of the run the mark was written for.
	Epoch int
	// Generation is the marker object's generation when it was listed.
	Generation int64
}

// markerTries bounds the read-then-write rounds of MarkActive and
// ClearActive when the marker keeps changing under them.
const markerTries = 8

// MarkActive records that epoch of run id is live. It is written before the
// record of that epoch, so a record never exists without its marker while it
// matters. A marker of this epoch or a later one is left as it is: a late
// duplicate of the storage event (epoch 1) never lowers a rerun's mark.
func (s *Store) MarkActive(ctx context.Context, id string, epoch int) error {
	for range markerTries {
		a, err := s.marker(id).Attrs(ctx)
		cond := storage.Conditions{DoesNotExist: true}
		switch {
		case errors.Is(err, storage.ErrObjectNotExist):
		case err != nil:
			return fmt.Errorf("mark run %s active: %w", id, err)
		case markerEpoch(a) >= epoch:
			return nil
		default:
			cond = storage.Conditions{GenerationMatch: a.Generation}
		}
		w := s.marker(id).If(cond).NewWriter(ctx)
		w.Metadata = map[string]string{epochKey: strconv.Itoa(epoch)}
		w.ChunkSize = googleapi.MinUploadChunkSize
		err = w.Close()
		if err == nil {
			return nil
		}
		if !isPrecondition(err) {
			return fmt.Errorf("mark run %s active: %w", id, err)
		}
		// Written meanwhile (or our own write landed with its answer lost):
		// look again.
	}
	return fmt.Errorf("mark run %s active: %w", id, ErrConflict)
}

// ClearActive removes run id's marker once epoch has ended and been
// announced; a missing marker is fine. A marker written for a later epoch (a
// rerun started meanwhile) is kept: the marker is read, and deleted only
// with ifGenerationMatch of what was read, so a mark written in between
// survives too. objects.delete, ifGenerationMatch: "Makes the operation
// conditional on whether the object's current generation matches the given
// value." (objects.delete parameters, as listed at
// https://cloud.google.com/workflows/docs/reference/googleapis/storage/v1/objects/delete)
func (s *Store) ClearActive(ctx context.Context, id string, epoch int) error {
	for range markerTries {
		a, err := s.marker(id).Attrs(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("clear active mark of run %s: %w", id, err)
		}
		if markerEpoch(a) > epoch {
			return nil
		}
		done, err := s.deleteMarker(ctx, id, a.Generation)
		if done || err != nil {
			return err
		}
	}
	return fmt.Errorf("clear active mark of run %s: %w", id, ErrConflict)
}

// ClearMarker removes marker m if it is still the generation that was
// listed: for markers whose run never got a record, or whose epoch never
// came.
func (s *Store) ClearMarker(ctx context.Context, m Marker) error {
	_, err := s.deleteMarker(ctx, m.ID, m.Generation)
	return err
}

// deleteMarker deletes generation gen of run id's marker; false (and no
// error) when the marker has another generation by now.
func (s *Store) deleteMarker(ctx context.Context, id string, gen int64) (bool, error) {
	err := s.marker(id).If(storage.Conditions{GenerationMatch: gen}).Delete(ctx)
	switch {
	case err == nil, errors.Is(err, storage.ErrObjectNotExist):
		return true, nil
	case isPrecondition(err):
		return false, nil
	default:
		return false, fmt.Errorf("clear active mark of run %s: %w", id, err)
	}
}

// markerEpoch is the epoch a marker was written for (0 when unknown).
func markerEpoch(a *storage.ObjectAttrs) int {
	n, _ := strconv.Atoi(a.Metadata[epochKey])
	return n
}

// marker is run id's marker object. Every write and delete of it carries a
// generation precondition, so retrying them is safe.
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
		ms = append(ms, Marker{ID: strings.TrimPrefix(a.Name, ActivePrefix), Created: a.Created, Epoch: markerEpoch(a), Generation: a.Generation})
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
