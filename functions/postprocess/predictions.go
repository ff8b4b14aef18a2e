package postprocess

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/dropcast/dropcast/shared/predictor"
)

// headerReaders bounds the predictions files whose headers are read at once.
const headerReaders = 8

// classesOf returns the classes of every predictions file's score columns,
// sorted: the score_<class> columns of results with scores: all. It reads
// only the files' headers, a few at a time.
func classesOf(ctx context.Context, b predictor.Backend, out predictor.Output, files []string) ([]string, error) {
	perFile := make([][]string, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, headerReaders)
	var wg sync.WaitGroup
	for i, f := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := b.OpenOutput(ctx, out, f)
			if err != nil {
				errs[i] = fmt.Errorf("read the header of %s: %w", f, err)
				return
			}
			perFile[i] = slices.Clone(r.Classes())
			errs[i] = r.Close()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	classes := []string{} // not nil: results with scores: all have class columns fixed, even none
	for _, cs := range perFile {
		for _, c := range cs {
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
	}
	slices.Sort(classes)
	return classes, nil
}
