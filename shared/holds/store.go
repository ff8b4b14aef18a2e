package holds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
)

// ErrConflict means a record kept changing under an update; try later.
var ErrConflict = errors.New("holds: model record changed concurrently")

// Prefix is where records live in the state bucket.
const Prefix = "models/"

// Store keeps hold records in a bucket.
type Store struct {
	bucket *storage.BucketHandle
	name   string
	now    func() time.Time
}

// NewStore returns a store on bucket (the state bucket).
func NewStore(gcs *storage.Client, bucket string) *Store {
	return &Store{bucket: gcs.Bucket(bucket), name: bucket, now: time.Now}
}

// Object is the name of a model's record: models/<backend>/<escaped key>.json,
// where the key is the model's name with its project segment as "_".
func Object(backend, model string) string {
	return Prefix + backend + "/" + url.PathEscape(recordKey(model)) + ".json"
}

// recordKey is model's name without its project: Vertex AI and AutoML answer
// with the project number whatever a spec used (docs/fidelity.md,
// vertex-resource-names), and a deployment may name one model by ID in one
// spec and by number in another; both must hold the same record.
func recordKey(model string) string {
	if rest, ok := strings.CutPrefix(model, "projects/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			return "projects/_/" + after
		}
	}
	return model
}

// URI is the gs:// address of a model's record.
func (s *Store) URI(backend, model string) string {
	return "gs://" + s.name + "/" + Object(backend, model)
}

// Get reads a model's record; a model never held has an empty one.
func (s *Store) Get(ctx context.Context, backend, model string) (*Record, error) {
	return s.read(ctx, Object(backend, model), backend, model)
}

func (s *Store) read(ctx context.Context, object, backend, model string) (*Record, error) {
	rd, err := s.bucket.Object(object).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return &Record{Backend: backend, Model: model, Holders: map[string]time.Time{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("holds: read %s: %w", object, err)
	}
	defer rd.Close()
	var r Record
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("holds: decode %s: %w", object, err)
	}
	if r.Holders == nil {
		r.Holders = map[string]time.Time{}
	}
	r.generation = rd.Attrs.Generation
	return &r, nil
}

// update applies fn to the latest record and writes it back only if nobody
// wrote in between (ifGenerationMatch; doesNotExist for a new record),
// re-reading and re-applying fn on a conflict. An error from fn aborts the
// update and is returned with the record fn saw.
func (s *Store) update(ctx context.Context, backend, model string, fn func(*Record) error) (*Record, error) {
	object := Object(backend, model)
	for attempt := range 10 {
		r, err := s.read(ctx, object, backend, model)
		if err != nil {
			return nil, err
		}
		if err := fn(r); err != nil {
			return r, err
		}
		cond := storage.Conditions{GenerationMatch: r.generation}
		if r.generation == 0 {
			cond = storage.Conditions{DoesNotExist: true}
		}
		err = s.write(ctx, s.bucket.Object(object).If(cond), r)
		if err == nil {
			return r, nil
		}
		if !isPrecondition(err) {
			return nil, fmt.Errorf("holds: write %s: %w", object, err)
		}
		time.Sleep(time.Duration(1+attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond)
	}
	return nil, fmt.Errorf("holds: update %s: %w", object, ErrConflict)
}

func (s *Store) write(ctx context.Context, o *storage.ObjectHandle, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	w := o.NewWriter(ctx)
	w.ContentType = "application/json"
	// A small buffer, not ChunkSize 0: with 0 the client does not retry a
	// failed write, and these writes are conditional, so retrying is safe.
	w.ChunkSize = googleapi.MinUploadChunkSize
	if _, err := w.Write(b); err != nil {
		w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	r.generation = w.Attrs().Generation
	return nil
}

// List reads every record.
func (s *Store) List(ctx context.Context) ([]*Record, error) {
	var out []*Record
	it := s.bucket.Objects(ctx, &storage.Query{Prefix: Prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("holds: list: %w", err)
		}
		rest, ok := strings.CutSuffix(strings.TrimPrefix(a.Name, Prefix), ".json")
		backend, escaped, ok2 := strings.Cut(rest, "/")
		model, err := url.PathUnescape(escaped)
		if !ok || !ok2 || err != nil {
			continue
		}
		r, err := s.read(ctx, a.Name, backend, model)
		if err != nil {
			return nil, err
		}
		if r.generation != 0 {
			out = append(out, r)
		}
	}
}

func isPrecondition(err error) bool {
	var e *googleapi.Error
	return errors.As(err, &e) && e.Code == http.StatusPreconditionFailed
}
