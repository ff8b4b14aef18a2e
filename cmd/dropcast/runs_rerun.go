package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/run"
)

// rerun runs a run again in a new epoch.
func (c *runsCLI) rerun(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("rerun", &conn)
	from := fs.String("from", "", "rerun from `step` (default: the first); the steps before it must be done")
	force := fs.Bool("force", false, "rerun a run that is still running (its current epoch's work is discarded)")
	wait := fs.Bool("wait", false, "follow the run until it ends; exit 1 if it fails")
	interval := fs.Duration("interval", time.Second, "with --wait: how often to poll the record")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usagef(fs, "rerun takes one run ID")
	}
	if *from != "" && !slices.Contains(run.Plan, *from) {
		return c.usagef(fs, "--from %q: want one of %s", *from, strings.Join(run.Plan, ", "))
	}
	a, done, code, ok := c.open(ctx, conn, steer)
	if !ok {
		return code
	}
	defer done()
	r, err := findRun(ctx, a.Runs, pos[0])
	if err != nil {
		return c.errorf("%v", err)
	}
	fl := newFollower(a.Runs, c.stdout)
	fl.only(r.ID)
	if err := fl.start(ctx); err != nil {
		return c.errorf("%v", err)
	}
	after, err := rerunRun(ctx, a, r, *from, *force)
	if err != nil {
		return c.errorf("rerun %s: %v", r.ID, err)
	}
	fmt.Fprintf(c.stdout, "run %s: epoch %d from %s (was %s in epoch %d)\n", after.ID, after.Epoch, after.Step, r.Status, r.Epoch)
	if !*wait {
		fmt.Fprintf(c.stdout, "follow it with: dropcast runs watch --run %s\n", after.ID)
		return runsOK
	}
	return c.waitFor(ctx, fl, *interval)
}

// rerunRun starts a new epoch of r from step from ("" the first step) and
// enqueues its task: the same code the chaos test races against running
// epochs (Kernel.Rerun, run.Store.Rerun).
func rerunRun(ctx context.Context, a *app.App, r *run.Run, from string, force bool) (*run.Run, error) {
	return a.Kernel.Rerun(ctx, a.Clients.Storage, r, from, force)
}
