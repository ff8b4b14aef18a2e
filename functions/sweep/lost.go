package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/functions/ingest"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/run"
)

// startLost starts runs for inbox objects that a spec takes, uploaded within
// the look-back window, that have no run under any pipeline: their event was
// lost. The run ID derives from the object's generation, so a run that exists
// is found (sourceRuns: also one started under a pipeline since renamed, or
// under another spec that took the file before a new spec did), and a late
// event that arrives after the sweep started the run finds it too.
func (s *Sweeper) startLost(ctx context.Context, deadline time.Time, rep *Report) error {
	set, err := s.app.Specs.Set(ctx)
	if err != nil {
		return fmt.Errorf("load specs: %w", err)
	}
	known := &sourceRuns{store: s.app.Runs}
	since := time.Now().Add(-s.Lookback)
	bucket := s.app.Config.InboxBucket
	it := s.app.Clients.Storage.Bucket(bucket).Objects(ctx, &storage.Query{})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list gs://%s: %w", bucket, err)
		}
		if a.Created.Before(since) {
			continue
		}
		p, _, ok := set.Match(a.Name)
		if !ok {
			continue
		}
		if time.Now().After(deadline) {
			rep.Incomplete = true
			return nil
		}
		src := run.Source{Bucket: bucket, Object: a.Name, Generation: a.Generation}
		if ok, err := known.has(ctx, p.Name, src); err != nil || ok {
			if err != nil {
				rep.Errors = append(rep.Errors, a.Name+": "+err.Error())
			}
			continue
		}
		r, err := ingest.Start(ctx, s.app, gcsevent.Object{Bucket: bucket, Name: a.Name, Generation: a.Generation, Size: a.Size})
		if err != nil {
			rep.Errors = append(rep.Errors, a.Name+": "+err.Error())
			continue
		}
		if r != nil {
			rep.Started = append(rep.Started, r.ID)
		}
	}
}

// sourceRuns tells whether a source object has a run under any pipeline. A
// run ID is the pipeline's name, then a part that depends on the object alone
// (its file name and a hash of bucket, object and generation: run.ID), so
// the object's runs are the IDs that end with that part. The run under the
// pipeline that takes the object now is looked up directly; only when it is
// missing are the record names listed, once per sweep.
type sourceRuns struct {
	store *run.Store
	// byHash holds the listed run IDs by their last hashLen characters (the
	// object's hash); nil until listed.
	byHash map[string][]string
}

// hashLen is the length of the hash that ends a run ID (run.ID).
const hashLen = 10

func (k *sourceRuns) has(ctx context.Context, pipeline string, src run.Source) (bool, error) {
	id := run.ID(pipeline, src)
	if ok, err := k.store.Exists(ctx, id); err != nil || ok {
		return ok, err
	}
	if k.byHash == nil {
		gens, err := k.store.Generations(ctx, "")
		if err != nil {
			return false, fmt.Errorf("list runs: %w", err)
		}
		k.byHash = make(map[string][]string, len(gens))
		for other := range gens {
			if len(other) > hashLen {
				h := other[len(other)-hashLen:]
				k.byHash[h] = append(k.byHash[h], other)
			}
		}
	}
	if len(id) <= hashLen {
		return false, nil
	}
	own := strings.TrimPrefix(id, pipeline) // "-" + file name + "-" + hash
	for _, other := range k.byHash[id[len(id)-hashLen:]] {
		if strings.HasSuffix(other, own) {
			return true, nil
		}
	}
	return false, nil
}
