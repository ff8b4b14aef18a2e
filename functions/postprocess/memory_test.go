package postprocess_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/sample"
)

// memorySpec is the sample spec writing results to Cloud Storage only, with
// every class's score.
func memorySpec(tb testing.TB) []byte {
	tb.Helper()
	src := string(sample.Spec)
	i := strings.Index(src, "\nresults:\n")
	if i < 0 {
		tb.Fatal("the sample spec has no results section")
	}
	return []byte(src[:i+1] + "results:\n  round: 4\n  scores: all\n")
}

// postprocessPeak runs postprocess over a run of rows rows (prediction files
// of 10,000 rows) in one invocation and returns the peak live heap above
// the heap before it, with the emulator's objects in another process.
func postprocessPeak(tb testing.TB, h *harness, name string, rows int) uint64 {
	tb.Helper()
	r := h.newRun(tb, name, rows, 10000, nil)
	stop := peakHeap()
	done, _ := h.finish(tb, r.ID)
	peak := stop()
	if done.Error != nil {
		tb.Fatalf("run failed: %+v", done.Error)
	}
	if got := done.Counters["rows_predicted"]; got != int64(rows) {
		tb.Fatalf("%d rows predicted, want %d", got, rows)
	}
	return peak
}

// TestPeakHeapDoesNotGrowWithTheRows runs postprocess over 30,000 and
// 200,000 rows: its peak heap must not grow with the rows (an index of the
// run's predictions adds about 190 bytes a row, 32 MiB here). Both runs
// have several predictions files, so both peaks hold the Cloud Storage
// writers' upload buffers (4 MiB each; two or three can be live while one
// part's upload ends and the next one's begins).
func TestPeakHeapDoesNotGrowWithTheRows(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200,000 rows")
	}
	h := newHarness(t, memorySpec(t), time.Hour)
	small := postprocessPeak(t, h, "20260426-000001", 30000)
	large := postprocessPeak(t, h, "20260426-000002", 200000)
	t.Logf("peak heap above the start: %.1f MiB at 30,000 rows, %.1f MiB at 200,000 rows", mib(small), mib(large))
	if large > small+8<<20 {
		t.Errorf("peak heap grew by %.1f MiB from 30,000 to 200,000 rows (%.0f bytes a row)", mib(large-min(large, small)), float64(large-min(large, small))/170000)
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkPostprocess runs the postprocess step over runs of 10,000 and
// 300,000 rows in one invocation and reports its peak live heap (the
// emulator's objects live in another process):
//
//	go test -run '^$' -bench Postprocess -benchmem -count 3 ./functions/postprocess
func BenchmarkPostprocess(b *testing.B) {
	for _, rows := range []int{10000, 300000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			h := newHarness(b, memorySpec(b), time.Hour)
			var peak uint64
			n := 0
			for b.Loop() {
				b.StopTimer()
				n++
				r := h.newRun(b, fmt.Sprintf("20260426-%06d", n), rows, 10000, nil)
				stop := peakHeap()
				b.StartTimer()
				done, _ := h.finish(b, r.ID)
				b.StopTimer()
				peak = max(peak, stop())
				if done.Error != nil {
					b.Fatalf("run failed: %+v", done.Error)
				}
				b.StartTimer()
			}
			b.ReportMetric(mib(peak), "peak-heap-MiB")
			b.ReportMetric(float64(peak)/float64(rows), "peak-heap-B/row")
		})
	}
}
