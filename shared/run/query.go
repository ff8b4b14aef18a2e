package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Filter selects run records. Zero fields select everything.
type Filter struct {
	// Pipeline keeps the runs of one pipeline.
	Pipeline string
	// Status keeps runs in one state.
	Status Status
	// Since and Until keep runs created in [Since, Until).
	Since, Until time.Time
	// Limit keeps the newest Limit runs; 0 keeps all.
	Limit int
}

// Match reports whether r passes the filter (Limit aside).
func (f Filter) Match(r *Run) bool {
	switch {
	case f.Pipeline != "" && r.Pipeline != f.Pipeline:
		return false
	case f.Status != "" && r.Status != f.Status:
		return false
	case !f.Since.IsZero() && r.CreatedAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !r.CreatedAt.Before(f.Until):
		return false
	}
	return true
}

// Apply returns the runs that match f, newest first, at most f.Limit of them.
// runs is not modified.
func (f Filter) Apply(runs []*Run) []*Run {
	out := make([]*Run, 0, len(runs))
	for _, r := range runs {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	SortNewestFirst(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// SortNewestFirst orders runs by CreatedAt, newest first, then by ID.
func SortNewestFirst(runs []*Run) {
	slices.SortStableFunc(runs, func(a, b *Run) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// queryReaders is how many records Query reads at once.
const queryReaders = 16

// Query returns the records that match f, newest first. Run IDs start with the
// pipeline's name, so a pipeline filter lists only that pipeline's records;
// otherwise every record is read (in parallel) to learn its creation time:
// cost grows with the number of records kept in the state bucket.
func (s *Store) Query(ctx context.Context, f Filter) ([]*Run, error) {
	prefix := ""
	if f.Pipeline != "" {
		prefix = f.Pipeline + "-"
	}
	gens, err := s.Generations(ctx, prefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(gens))
	for id := range gens {
		ids = append(ids, id)
	}
	runs, err := s.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	return f.Apply(runs), nil
}

// Generations lists the records whose ID starts with prefix without reading
// them: run ID → the record object's generation, which changes with every
// update. Comparing two listings tells which records changed.
func (s *Store) Generations(ctx context.Context, prefix string) (map[string]int64, error) {
	gens := map[string]int64{}
	q := &storage.Query{Prefix: Prefix + prefix}
	if err := q.SetAttrSelection([]string{"Name", "Generation"}); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	it := s.bucket.Objects(ctx, q)
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return gens, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		id, ok := strings.CutSuffix(strings.TrimPrefix(a.Name, Prefix), ".json")
		if ok && !strings.Contains(id, "/") {
			gens[id] = a.Generation
		}
	}
}

// GetMany reads the records ids, several at once, in the order of ids.
// Records deleted since they were listed are left out.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]*Run, error) {
	runs := make([]*Run, len(ids))
	errs := make([]error, len(ids))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(queryReaders, len(ids)) {
		wg.Go(func() {
			for i := range next {
				runs[i], errs[i] = s.Get(ctx, ids[i])
			}
		})
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	out := runs[:0]
	for i, r := range runs {
		switch {
		case errors.Is(errs[i], ErrNotFound):
		case errs[i] != nil:
			return nil, errs[i]
		default:
			out = append(out, r)
		}
	}
	return out, nil
}
