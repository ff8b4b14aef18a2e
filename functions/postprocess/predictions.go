package postprocess

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/dropcast/dropcast/shared/predictor"
)

// entry is one row's prediction, as much of it as results need.
type entry struct {
	label      string
	score      float64
	classified bool      // the model reported class scores (not a regression value)
	scores     []float64 // by the index's class position (scores: all only); NaN or missing when absent
}

// index holds a run's predictions by row key. Backends do not promise their
// output files in row order, so the join needs them all at hand: the index
// costs memory in proportion to the run's rows (roughly 100-150 bytes a row, plus
// 8 bytes a class with scores: all).
type index struct {
	rows    map[int64]entry
	classes []string // scores: all: every class seen, by position in entry.scores
	classID map[string]int
	scores  bool // keep per-class scores
	frozen  bool // classes are fixed: an unknown class is an error
}

// readPredictions reads every prediction of the run's output directory
// out.Dir with backend b. With keepScores it keeps per-class scores; fixed,
// when not nil, are the classes an earlier invocation committed the results
// to. It returns the index and the rows the service reported as errors.
func readPredictions(ctx context.Context, b predictor.Backend, out predictor.Output, keepScores bool, fixed []string) (*index, int64, error) {
	ix := &index{rows: map[int64]entry{}, classID: map[string]int{}, scores: keepScores, frozen: fixed != nil}
	for _, c := range fixed {
		ix.class(c)
	}
	errRows, err := b.ReadOutput(ctx, out, ix.add)
	if err != nil {
		return nil, 0, fmt.Errorf("read predictions in %s: %w", out.Dir, err)
	}
	if !ix.frozen {
		ix.sortClasses()
	}
	return ix, errRows, nil
}

// add indexes one prediction.
func (ix *index) add(p predictor.Prediction) error {
	key, err := strconv.ParseInt(p.RowKey, 10, 64)
	if err != nil {
		return &joinError{fmt.Sprintf("prediction row key %q is not a line number", p.RowKey)}
	}
	e := entry{label: p.Label, score: p.Score, classified: p.Scores != nil}
	if ix.scores && len(p.Scores) > 0 {
		for c := range p.Scores {
			if _, ok := ix.classID[c]; !ok && ix.frozen {
				return &joinError{fmt.Sprintf("row %d has class %q, which results begun with classes %q have no column for", key, c, ix.classes)}
			}
			ix.class(c)
		}
		e.scores = make([]float64, len(ix.classes))
		for i := range e.scores {
			e.scores[i] = math.NaN()
		}
		for c, v := range p.Scores {
			e.scores[ix.classID[c]] = v
		}
	}
	ix.rows[key] = e
	return nil
}

// class is c's position, adding it when new.
func (ix *index) class(c string) int {
	if i, ok := ix.classID[c]; ok {
		return i
	}
	ix.classID[c] = len(ix.classes)
	ix.classes = append(ix.classes, c)
	return len(ix.classes) - 1
}

// sortClasses puts the classes in sorted order, moving every entry's scores.
func (ix *index) sortClasses() {
	sorted := slices.Sorted(slices.Values(ix.classes))
	if slices.Equal(sorted, ix.classes) {
		return
	}
	to := make([]int, len(ix.classes)) // old position -> new
	for i, c := range sorted {
		to[ix.classID[c]] = i
		ix.classID[c] = i
	}
	for k, e := range ix.rows {
		if e.scores == nil {
			continue
		}
		moved := make([]float64, len(sorted))
		for i := range moved {
			moved[i] = math.NaN()
		}
		for old, v := range e.scores {
			moved[to[old]] = v
		}
		e.scores = moved
		ix.rows[k] = e
	}
	ix.classes = sorted
}
