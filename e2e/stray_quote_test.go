package e2e

import (
	"bytes"
	"testing"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// A stray quote rejects the record it opens, from its line to the end of
// the file, each swallowed line a rejected row: on the last line it costs one
// row and the run succeeds; early in the file it swallows more rows than the
// sample's reject_threshold (max_ratio 0.05) allows and the run fails in
// preprocess by that threshold.
func TestStrayQuote(t *testing.T) {
	t.Parallel()
	// The header and 100 copies of the sample's first row (which has no quote).
	lines := bytes.SplitAfterN(sample.CSV, []byte("\n"), 3)
	file := func(quoteAt int) []byte {
		out := bytes.Clone(lines[0])
		for i := range 100 {
			row := lines[1]
			if i == quoteAt {
				// "note" is the last column: a quote opening it never closes.
				j := bytes.LastIndexByte(row, ',') + 1
				row = append(append(bytes.Clone(row[:j]), '"'), row[j:]...)
			}
			out = append(out, row...)
		}
		return out
	}
	t.Run("last line", func(t *testing.T) {
		t.Parallel()
		s := mustStack(t, localstack.Options{})
		r := dropAndWait(t, s, sampleObject(), file(99))
		if r.Status != run.Succeeded || r.Counters[run.RowsRejected] != 1 || r.Counters[run.RowsClean] != 99 {
			t.Fatalf("run %s (%+v), counters %v; want succeeded with 1 row rejected", r.Status, r.Error, r.Counters)
		}
	})
	t.Run("early", func(t *testing.T) {
		t.Parallel()
		s := mustStack(t, localstack.Options{})
		r := dropAndWait(t, s, sampleObject(), file(10))
		if r.Status != run.Failed || r.Error == nil || r.Error.Step != run.Preprocess ||
			!bytes.Contains([]byte(r.Error.Message), []byte("max_ratio")) {
			t.Fatalf("run %s (%+v); want failed in preprocess by reject_threshold", r.Status, r.Error)
		}
	})
}
