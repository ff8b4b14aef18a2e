package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/functions/ingest"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/run"
)

// startLost starts runs for inbox objects that a spec takes, uploaded within
// the look-back window, that have no run: their event was lost. The run ID
// derives from the object's generation, so a run that exists is found, and a
// late event that arrives after the sweep started the run finds it too.
func (s *Sweeper) startLost(ctx context.Context, deadline time.Time, rep *Report) error {
	set, err := s.app.Specs.Set(ctx)
	if err != nil {
		return fmt.Errorf("load specs: %w", err)
	}
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
		if ok, err := s.app.Runs.Exists(ctx, run.ID(p.Name, src)); err != nil || ok {
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
