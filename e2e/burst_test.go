package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
)

// TestBurst drops many files at once and checks that every run completes
// with the queue's limits respected. The default is a fast 20 files;
//
//	DROPCAST_BURST_FILES=200 go test ./e2e -run TestBurst -v -timeout 20m
//
// is the full burst, whose figures (files per minute, slowest run) the test logs.
func TestBurst(t *testing.T) {
	files := 20
	if v := os.Getenv("DROPCAST_BURST_FILES"); v != "" {
		var err error
		if files, err = strconv.Atoi(v); err != nil {
			t.Fatalf("DROPCAST_BURST_FILES=%q", v)
		}
	}
	s := mustStack(t, localstack.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	start := time.Now()
	ids := make([]string, files)
	var wg sync.WaitGroup
	errs := make(chan error, files)
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
			id, err := s.Drop(ctx, fmt.Sprintf("incoming/%s-120000.csv", day.Format("20060102")), sample.CSV)
			ids[i] = id
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var durations []time.Duration
	for _, id := range ids {
		r, err := s.Wait(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != run.Succeeded || r.Counters[run.RowsPredicted] != sampleClean {
			t.Fatalf("run %s: %s %+v, %d rows predicted", id, r.Status, r.Error, r.Counters[run.RowsPredicted])
		}
		durations = append(durations, r.FinishedAt.Sub(r.CreatedAt))
	}
	elapsed := time.Since(start)
	slices.Sort(durations)
	stats := s.Tasks.Stats()
	limit := 50 // the local queue's max_concurrent_dispatches
	if got := stats.MaxConcurrent[s.Config.TasksQueue]; got > limit {
		t.Errorf("%d concurrent dispatches, over the queue's limit of %d", got, limit)
	}
	t.Logf("burst of %d files: all succeeded in %s = %.0f files/minute; run duration p50 %s, slowest %s; peak concurrent dispatches %d (limit %d), %d dispatches",
		files, elapsed.Round(time.Millisecond), float64(files)/elapsed.Minutes(),
		durations[len(durations)/2].Round(time.Millisecond), durations[len(durations)-1].Round(time.Millisecond),
		stats.MaxConcurrent[s.Config.TasksQueue], limit, stats.Dispatches)
}
