package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dropcast/dropcast/shared/run"
)

// follower polls run records and prints what changed between two polls. It
// lists the records' generations (cheap) and reads only the records that
// changed; runs followed by ID are read directly.
type follower struct {
	store    *run.Store
	w        io.Writer
	asJSON   bool
	pipeline string          // "": every pipeline
	ids      map[string]bool // nil: every run
	gens     map[string]int64
	seen     map[string]*run.Run
}

func newFollower(store *run.Store, w io.Writer) *follower {
	return &follower{store: store, w: w, gens: map[string]int64{}, seen: map[string]*run.Run{}}
}

// only follows these runs and no others.
func (f *follower) only(ids ...string) {
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	for _, id := range ids {
		f.ids[id] = true
	}
}

// start reads the records as they are now, without printing: later polls
// print what changes from here.
func (f *follower) start(ctx context.Context) error {
	runs, err := f.read(ctx)
	for _, r := range runs {
		f.seen[r.ID], f.gens[r.ID] = r, r.Generation()
	}
	return err
}

// poll reads what changed since the last poll and prints it.
func (f *follower) poll(ctx context.Context) error {
	runs, err := f.read(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		for _, ch := range diff(f.seen[r.ID], r) {
			f.print(ch)
		}
		f.seen[r.ID], f.gens[r.ID] = r, r.Generation()
	}
	return nil
}

// read returns the followed records that changed since they were last seen.
func (f *follower) read(ctx context.Context) ([]*run.Run, error) {
	var ids []string
	if f.ids != nil {
		ids = slices.Sorted(maps.Keys(f.ids))
	} else {
		prefix := ""
		if f.pipeline != "" {
			prefix = f.pipeline + "-"
		}
		gens, err := f.store.Generations(ctx, prefix)
		if err != nil {
			return nil, err
		}
		for id, g := range gens {
			if g != f.gens[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
	}
	runs, err := f.store.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := runs[:0]
	for _, r := range runs {
		if r.Generation() != f.gens[r.ID] && (f.pipeline == "" || r.Pipeline == f.pipeline) {
			out = append(out, r)
		}
	}
	return out, nil
}

// settled reports whether every followed run has ended, and how many failed.
func (f *follower) settled() (done bool, failed int) {
	for id := range f.ids {
		r := f.seen[id]
		if r == nil || !r.Terminal() {
			return false, 0
		}
		if r.Status == run.Failed {
			failed++
		}
	}
	return true, failed
}

// change is one thing that happened to a run between two polls.
type change struct {
	Time       time.Time `json:"time"`
	RunID      string    `json:"run_id"`
	Pipeline   string    `json:"pipeline"`
	Epoch      int       `json:"epoch"`
	Kind       string    `json:"kind"`
	Step       string    `json:"step,omitempty"`
	Attempts   int       `json:"attempts,omitempty"`
	Segments   int       `json:"segments,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// Kinds of change.
const (
	chRunStarted   = "run.started"
	chRunRerun     = "run.rerun"
	chRunSucceeded = "run.succeeded"
	chRunFailed    = "run.failed"
	chStepStarted  = "step.started"
	chStepRetried  = "step.retried"
	chStepSegment  = "step.segment"
	chStepDone     = "step.done"
	chStepFailed   = "step.failed"
)

// diff lists what changed from old (nil: the run is new) to cur.
func diff(old, cur *run.Run) []change {
	base := change{RunID: cur.ID, Pipeline: cur.Pipeline, Epoch: cur.Epoch}
	at := func(t time.Time, kind string) change {
		c := base
		c.Time, c.Kind = t, kind
		return c
	}
	var out []change
	switch {
	case old == nil:
		c := at(cur.CreatedAt, chRunStarted)
		c.Message = cur.Source.URI()
		out = append(out, c)
		old = &run.Run{}
	case cur.Epoch != old.Epoch:
		from := rerunFrom(old, cur)
		c := at(cur.UpdatedAt, chRunRerun)
		c.Step, c.Message = from, fmt.Sprintf("epoch %d from %s (was %s)", cur.Epoch, from, old.Status)
		out = append(out, c)
	}
	for _, st := range cur.Steps {
		o := old.StepState(st.Name)
		if o == nil || !o.StartedAt.Equal(st.StartedAt) && !o.StartedAt.IsZero() {
			o = &run.StepState{Name: st.Name, Status: run.StepPending} // new, or restarted in a new epoch
		}
		c := at(st.StartedAt, "")
		c.Step, c.Attempts, c.Segments = st.Name, st.Attempts, st.Segments
		switch {
		case st.Status == run.StepDone && o.Status != run.StepDone:
			c.Time, c.Kind, c.DurationMS = st.FinishedAt, chStepDone, st.FinishedAt.Sub(st.StartedAt).Milliseconds()
		case st.Status == run.StepFailed && o.Status != run.StepFailed:
			c.Time, c.Kind, c.Message = st.FinishedAt, chStepFailed, st.Error
		case st.Status != run.StepRunning:
		case o.Status != run.StepRunning:
			c.Kind = chStepStarted
		case st.Segments > o.Segments: // continue or poll-later: a new delivery, not a retry
			c.Time, c.Kind = cur.UpdatedAt, chStepSegment
		case st.Attempts > o.Attempts && st.LastError != "":
			// A delivery after a transient error (a commit clears LastError;
			// the delivery after a segment is no retry).
			c.Time, c.Kind, c.Message = cur.UpdatedAt, chStepRetried, st.LastError
		}
		if c.Kind != "" {
			out = append(out, c)
		}
	}
	if cur.Terminal() && (cur.Status != old.Status || cur.Epoch != old.Epoch) {
		c := at(cur.FinishedAt, chRunSucceeded)
		c.DurationMS = cur.FinishedAt.Sub(cur.CreatedAt).Milliseconds()
		if cur.Status == run.Failed {
			c.Kind, c.Message = chRunFailed, failure(cur)
		}
		out = append(out, c)
	}
	return out
}

// rerunFrom names the step a new epoch started from: the first step that
// was reset (the cursor may have moved on by the time the record is read).
func rerunFrom(old, cur *run.Run) string {
	for _, st := range cur.Steps {
		o := old.StepState(st.Name)
		if o == nil || !o.StartedAt.Equal(st.StartedAt) || st.Status == run.StepPending && o.Status != run.StepPending {
			return st.Name
		}
	}
	return cur.Step
}

// print writes one change, as a line for people or a JSON line.
func (f *follower) print(c change) {
	if f.asJSON {
		b, _ := json.Marshal(c)
		fmt.Fprintf(f.w, "%s\n", b)
		return
	}
	d := (time.Duration(c.DurationMS) * time.Millisecond).String()
	var what string
	switch c.Kind {
	case chRunStarted:
		what = "started: " + c.Message
	case chRunRerun:
		what = "rerun: " + c.Message
	case chRunSucceeded:
		what = "SUCCEEDED in " + d
	case chRunFailed:
		what = "FAILED in " + c.Message
	case chStepStarted:
		what = fmt.Sprintf("%-11s running (attempt %d)", c.Step, c.Attempts)
	case chStepRetried:
		what = fmt.Sprintf("%-11s retrying (attempt %d) after: %s", c.Step, c.Attempts, c.Message)
	case chStepSegment:
		what = fmt.Sprintf("%-11s continues (segment %d)", c.Step, c.Segments)
	case chStepDone:
		what = fmt.Sprintf("%-11s done in %s (%s)", c.Step, d, strings.Join(attemptWords(c), ", "))
	case chStepFailed:
		what = fmt.Sprintf("%-11s FAILED: %s", c.Step, c.Message)
	}
	fmt.Fprintf(f.w, "%s  %s  %s\n", c.Time.Local().Format("15:04:05.000"), c.RunID, what)
}

func attemptWords(c change) []string {
	w := []string{fmt.Sprintf("%d attempt%s", c.Attempts, plural(c.Attempts))}
	if c.Segments > 0 {
		w = append(w, fmt.Sprintf("%d segment%s", c.Segments, plural(c.Segments)))
	}
	return w
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// waitFor polls until every followed run has ended: runsOK when all
// succeeded, runsFailed when one failed or ctx ended first.
func (c *runsCLI) waitFor(ctx context.Context, f *follower, every time.Duration) int {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := f.poll(ctx); err != nil {
			return c.errorf("%v", err)
		}
		if done, failed := f.settled(); done {
			if failed > 0 {
				fmt.Fprintf(c.stdout, "%d of %d runs failed\n", failed, len(f.ids))
				return runsFailed
			}
			return runsOK
		}
		select {
		case <-ctx.Done():
			return c.errorf("stopped waiting: %v", ctx.Err())
		case <-tick.C:
		}
	}
}
