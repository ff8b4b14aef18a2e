package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dropcast/dropcast/shared/run"
)

// watch follows runs live by polling their records: a Pub/Sub subscription
// to the events topic would need a subscription resource per watcher, while
// the store is always there and tells the whole story. Each poll lists the
// records' generations and reads only the records that changed.
func (c *runsCLI) watch(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("watch", &conn)
	pipeline := fs.String("pipeline", "", "only runs of `pipeline`")
	one := fs.String("run", "", "follow one `run` and exit when it ends: 0 if it succeeded, 1 if it failed")
	interval := fs.Duration("interval", time.Second, "how often to poll the records")
	asJSON := fs.Bool("json", false, "print changes as JSON lines")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usagef(fs, "watch takes no arguments")
	}
	if *interval <= 0 {
		return c.usagef(fs, "--interval must be positive")
	}
	a, done, code, ok := c.open(ctx, conn, readRecords)
	if !ok {
		return code
	}
	defer done()
	f := newFollower(a.Runs, c.stdout)
	f.pipeline, f.asJSON = *pipeline, *asJSON
	if *one != "" {
		r, err := findRun(ctx, a.Runs, *one)
		if err != nil {
			return c.errorf("%v", err)
		}
		f.only(r.ID)
	}
	if err := f.start(ctx); err != nil {
		return c.errorf("%v", err)
	}
	if !*asJSON {
		c.watchBanner(f, *interval)
	}
	if f.ids != nil {
		return c.waitFor(ctx, f, *interval)
	}
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return runsOK // Ctrl-C ends a watch
		case <-tick.C:
		}
		if err := f.poll(ctx); err != nil {
			// A blip in the store is no reason to stop watching.
			fmt.Fprintf(c.stderr, "dropcast runs watch: %v\n", err)
		}
	}
}

// watchBanner says what is being watched and which runs are under way.
func (c *runsCLI) watchBanner(f *follower, every time.Duration) {
	var running []*run.Run
	for _, r := range f.seen {
		if r.Status == run.Running {
			running = append(running, r)
		}
	}
	run.SortNewestFirst(running)
	fmt.Fprintf(c.stdout, "watching %d runs, %d running (polling every %s; Ctrl-C to stop)\n", len(f.seen), len(running), every)
	for _, r := range running {
		attempts := 0
		if st := r.StepState(r.Step); st != nil {
			attempts = st.Attempts
		}
		fmt.Fprintf(c.stdout, "  %s running: %s, attempt %d, segment %d\n", r.ID, r.Step, attempts, r.Segment)
	}
}
