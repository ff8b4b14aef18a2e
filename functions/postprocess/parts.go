package postprocess

import (
	"context"
	"errors"
	"fmt"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/run"
)

// MaxCompose is how many sources one Cloud Storage compose request takes.
const MaxCompose = 32

// PartsPrefix is where a run's result parts wait in the results bucket until
// they are composed into the results object (compose needs its sources in
// the destination's bucket): _dropcast/parts/RUN/eEPOCH/. They are removed
// once the results object is recorded, or when the run fails in
// postprocess; an invocation that dies between the two leaves them behind.
func PartsPrefix(r *run.Run) string { return fmt.Sprintf("_dropcast/parts/%s/e%d/", r.ID, r.Epoch) }

// partObject is result part n: the join of clean part n.
func partObject(r *run.Run, n int) string { return fmt.Sprintf("%spart-%05d.csv", PartsPrefix(r), n) }

// compose concatenates srcs, in order, into dst. More than MaxCompose
// sources are composed in a tree of intermediate objects under scratch.
// Every object it writes is a function of its sources, so a repeated call
// writes the same bytes.
func compose(ctx context.Context, b *storage.BucketHandle, srcs []string, dst, scratch string) error {
	for level := 0; len(srcs) > MaxCompose; level++ {
		var next []string
		for i := 0; i < len(srcs); i += MaxCompose {
			name := fmt.Sprintf("%scompose-%d-%05d.csv", scratch, level, i/MaxCompose)
			if err := composeOnce(ctx, b, srcs[i:min(i+MaxCompose, len(srcs))], name); err != nil {
				return err
			}
			next = append(next, name)
		}
		srcs = next
	}
	return composeOnce(ctx, b, srcs, dst)
}

func composeOnce(ctx context.Context, b *storage.BucketHandle, srcs []string, dst string) error {
	hs := make([]*storage.ObjectHandle, len(srcs))
	for i, s := range srcs {
		hs[i] = b.Object(s)
	}
	c := b.Object(dst).ComposerFrom(hs...)
	c.ContentType = "text/csv"
	if _, err := c.Run(ctx); err != nil {
		return fmt.Errorf("compose %d parts into %s: %w", len(srcs), dst, err)
	}
	return nil
}

// removeAll deletes every object under prefix; objects already gone are fine.
func removeAll(ctx context.Context, b *storage.BucketHandle, prefix string) error {
	names, err := gcsuri.List(ctx, b, prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := b.Object(n).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf("delete %s: %w", n, err)
		}
	}
	return nil
}
