package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dropcast/dropcast/functions/status"
	"github.com/dropcast/dropcast/shared/run"
)

// list prints runs, newest first.
func (c *runsCLI) list(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("list", &conn)
	pipeline := fs.String("pipeline", "", "only runs of `pipeline`")
	st := fs.String("status", "", "only runs that are `status`: running, succeeded or failed")
	since := fs.String("since", "", "only runs created since `WHEN`: a date (2026-04-26), an RFC 3339 time or an age (36h, 7d)")
	limit := fs.Int("limit", 50, "show the newest `n` runs (0: all)")
	asJSON := fs.Bool("json", false, "print the run records as a JSON array")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usagef(fs, "list takes no arguments")
	}
	f := run.Filter{Pipeline: *pipeline, Status: run.Status(*st), Limit: *limit}
	switch f.Status {
	case "", run.Running, run.Succeeded, run.Failed:
	default:
		return c.usagef(fs, "--status %q: want running, succeeded or failed", *st)
	}
	if *limit < 0 {
		return c.usagef(fs, "--limit must not be negative")
	}
	if *since != "" {
		t, err := parseWhen(*since, c.now())
		if err != nil {
			return c.usagef(fs, "--since %v", err)
		}
		f.Since = t
	}
	a, done, code, ok := c.open(ctx, conn, readRecords)
	if !ok {
		return code
	}
	defer done()
	runs, err := a.Runs.Query(ctx, f)
	if err != nil {
		return c.errorf("%v", err)
	}
	if *asJSON {
		return c.printJSON(runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(c.stdout, "no runs")
		return runsOK
	}
	c.runTable(runs)
	return runsOK
}

// runTable prints one line per run.
func (c *runsCLI) runTable(runs []*run.Run) {
	now := c.now()
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTATUS\tPIPELINE\tFILE\tSTARTED\tDURATION\tIN\tCLEAN\tREJECTED\tPREDICTED\tERROR")
	for _, r := range runs {
		st := string(r.Status)
		if r.Status == run.Running {
			st += " (" + r.Step + ")"
		}
		if r.Epoch > 1 {
			st += fmt.Sprintf(" e%d", r.Epoch)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.ID, st, r.Pipeline, path.Base(r.Source.Object), r.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			runTook(r, now), count(r, run.RowsIn), count(r, run.RowsClean), count(r, run.RowsRejected), count(r, run.RowsPredicted),
			oneLine(failure(r), 80))
	}
	tw.Flush()
}

// show prints one run: the timeline, then what it needs beyond a glance.
func (c *runsCLI) show(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("show", &conn)
	asJSON := fs.Bool("json", false, "print the run record as JSON")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.usagef(fs, "show takes one run ID")
	}
	a, done, code, ok := c.open(ctx, conn, readRecords)
	if !ok {
		return code
	}
	defer done()
	r, err := findRun(ctx, a.Runs, pos[0])
	if err != nil {
		return c.errorf("%v", err)
	}
	if *asJSON {
		return c.printJSON(r)
	}
	fmt.Fprint(c.stdout, strings.TrimPrefix(timeline(r), "\n"))
	details(c.stdout, r, a.Runs.URI(r.ID), a.Config.Project, a.Config.StatusURL)
	return runsOK
}

// details prints what the timeline leaves out: when, errors, every counter,
// Console links and where the record lives.
func details(w io.Writer, r *run.Run, record, project, statusURL string) {
	fmt.Fprintf(w, "\n  epoch %d · created %s", r.Epoch, r.CreatedAt.Local().Format(time.DateTime))
	if !r.FinishedAt.IsZero() {
		fmt.Fprintf(w, " · finished %s", r.FinishedAt.Local().Format(time.DateTime))
	}
	if r.Status == run.Running {
		fmt.Fprintf(w, " · next: %s segment %d", r.Step, r.Segment)
	}
	if r.Redrives > 0 {
		fmt.Fprintf(w, " · re-driven %d×", r.Redrives)
	}
	fmt.Fprintln(w)
	for _, st := range r.Steps {
		if st.Error != "" {
			fmt.Fprintf(w, "  %s error: %s\n", st.Name, st.Error)
		} else if st.LastError != "" {
			fmt.Fprintf(w, "  %s last transient error (retried): %s\n", st.Name, st.LastError)
		}
	}
	if len(r.Counters) > 0 {
		fmt.Fprintln(w, "\n  counters")
		for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
			fmt.Fprintf(w, "    %-24s %d\n", k, r.Counters[k])
		}
	}
	var links []string
	for _, k := range slices.Sorted(maps.Keys(r.Outputs)) {
		if u := status.ConsoleURL(r.Outputs[k], project); u != "" {
			links = append(links, fmt.Sprintf("    %-14s %s", k, u))
		}
	}
	if len(links) > 0 {
		fmt.Fprintf(w, "\n  in the Cloud Console\n%s\n", strings.Join(links, "\n"))
	}
	fmt.Fprintf(w, "\n  record %s\n", record)
	if statusURL != "" {
		fmt.Fprintf(w, "  page   %s/runs/%s\n", strings.TrimSuffix(statusURL, "/"), r.ID)
	}
}

// findRun reads a run by ID, or by a prefix of exactly one run's ID.
func findRun(ctx context.Context, store *run.Store, id string) (*run.Run, error) {
	r, err := store.Get(ctx, id)
	if !errors.Is(err, run.ErrNotFound) {
		return r, err
	}
	gens, lerr := store.Generations(ctx, id)
	if lerr != nil {
		return nil, lerr
	}
	switch len(gens) {
	case 0:
		return nil, err
	case 1:
		for full := range gens {
			return store.Get(ctx, full)
		}
	}
	ids := slices.Sorted(maps.Keys(gens))
	if len(ids) > 5 {
		ids = append(ids[:5], "…")
	}
	return nil, fmt.Errorf("%q names %d runs: %s", id, len(gens), strings.Join(ids, ", "))
}

func (c *runsCLI) printJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return c.errorf("encode JSON: %v", err)
	}
	fmt.Fprintf(c.stdout, "%s\n", b)
	return runsOK
}

// runTook is how long a run took, or has been running.
func runTook(r *run.Run, now time.Time) string {
	end := r.FinishedAt
	if end.IsZero() {
		end = now
	}
	d := end.Sub(r.CreatedAt)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func count(r *run.Run, name string) string {
	if v, ok := r.Counters[name]; ok {
		return fmt.Sprint(v)
	}
	return "-"
}

func failure(r *run.Run) string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Step + ": " + r.Error.Message
}

// oneLine keeps the first line of s, at most max runes.
func oneLine(s string, max int) string {
	s, _, cut := strings.Cut(s, "\n")
	if rs := []rune(s); len(rs) > max {
		return string(rs[:max-1]) + "…"
	} else if cut {
		return s + " …"
	}
	return s
}
