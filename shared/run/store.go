package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("run not found")
	ErrExists   = errors.New("run already exists")
	// ErrConflict means the record kept changing under an update; try later.
	ErrConflict = errors.New("run record changed concurrently")
)

// Store keeps run records as gs://BUCKET/runs/ID.json.
type Store struct {
	bucket *storage.BucketHandle
	name   string
}

// NewStore returns a store on bucket.
func NewStore(gcs *storage.Client, bucket string) *Store {
	return &Store{bucket: gcs.Bucket(bucket), name: bucket}
}

// Prefix is where records live in the state bucket.
const Prefix = "runs/"

func (s *Store) object(id string) *storage.ObjectHandle {
	return s.bucket.Object(Prefix + id + ".json")
}

// URI is the gs:// address of a run's record.
func (s *Store) URI(id string) string { return "gs://" + s.name + "/" + Prefix + id + ".json" }

// Create stores a new record; ErrExists when one is there already.
func (s *Store) Create(ctx context.Context, r *Run) error {
	err := s.write(ctx, s.object(r.ID).If(storage.Conditions{DoesNotExist: true}), r)
	if isPrecondition(err) {
		return ErrExists
	}
	return err
}

// Get reads a record.
func (s *Store) Get(ctx context.Context, id string) (*Run, error) {
	rd, err := s.object(id).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	defer rd.Close()
	var r Run
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode run %s: %w", id, err)
	}
	r.generation = rd.Attrs.Generation
	return &r, nil
}

// Update applies fn to the latest record and writes it back only if nobody
// wrote in between (ifGenerationMatch), re-reading and re-applying fn on a
// conflict. An error from fn aborts the update and is returned as is, with the
// record fn saw.
func (s *Store) Update(ctx context.Context, id string, fn func(*Run) error) (*Run, error) {
	for attempt := range 8 {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := fn(r); err != nil {
			return r, err
		}
		err = s.write(ctx, s.object(id).If(storage.Conditions{GenerationMatch: r.generation}), r)
		if err == nil {
			return r, nil
		}
		if !isPrecondition(err) {
			return nil, err
		}
		// Back off a little before re-reading, with jitter, so writers spread out.
		time.Sleep(time.Duration(1+attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond)
	}
	return nil, fmt.Errorf("update run %s: %w", id, ErrConflict)
}

func (s *Store) write(ctx context.Context, o *storage.ObjectHandle, r *Run) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run %s: %w", r.ID, err)
	}
	w := o.NewWriter(ctx)
	w.ContentType = "application/json"
	// A small buffer, not ChunkSize 0: with 0 the client does not retry a
	// failed write, and these writes are conditional, so retrying is safe.
	w.ChunkSize = googleapi.MinUploadChunkSize
	if _, err := w.Write(b); err != nil {
		w.Close()
		return fmt.Errorf("write run %s: %w", r.ID, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write run %s: %w", r.ID, err)
	}
	r.generation = w.Attrs().Generation
	return nil
}

// List returns every record whose ID starts with prefix, in ID order.
func (s *Store) List(ctx context.Context, prefix string) ([]*Run, error) {
	var runs []*Run
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: Prefix + prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return runs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(a.Name, Prefix), ".json")
		if !ok {
			continue
		}
		r, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
}

func isPrecondition(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusPreconditionFailed
}
