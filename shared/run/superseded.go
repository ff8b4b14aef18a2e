package run

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/storage"
)

// SupersededError says that the run's file was uploaded again: the newer
// upload's own run owns the file's outputs now.
type SupersededError struct {
	Source     Source
	Generation int64
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("%s was uploaded again (generation %d) while this run (generation %d) was under way; the newer upload's run writes its outputs",
		e.Source.URI(), e.Generation, e.Source.Generation)
}

// CheckSuperseded returns a *SupersededError when the run's source object has
// a newer generation, so an older run never overwrites a newer run's table
// partition or results. A deleted object (or a scheduled run, which has
// none) is not superseded.
func CheckSuperseded(ctx context.Context, gcs *storage.Client, src Source) error {
	if src.Bucket == "" {
		return nil
	}
	a, err := gcs.Bucket(src.Bucket).Object(src.Object).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s for a newer upload: %w", src.URI(), err)
	}
	if a.Generation > src.Generation {
		return &SupersededError{Source: src, Generation: a.Generation}
	}
	return nil
}

// Lane names the order in which r's writes of kind into destination must
// land (see bqload.Lanes): writes of the same file — or, for a scheduled
// run, of the same run — share a lane, and a newer generation of the file,
// or a newer epoch of the run, comes after an older one.
func Lane(r *Run, kind, destination string) (lane string, order [2]int64) {
	src := "run " + r.ID
	if r.Source.Bucket != "" {
		src = r.Source.URI()
	}
	return kind + " " + destination + " " + src, [2]int64{r.Source.Generation, int64(r.Epoch)}
}
