package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/functions/ingest"
	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/gcsevent"
	"github.com/dropcast/dropcast/shared/run"
)

// backfillFile is an inbox object a spec takes, with its date.
type backfillFile struct {
	object     string
	generation int64
	size       int64
	pipeline   string
	date       string // YYYYMMDD
	id         string
}

// backfill starts runs for the inbox files dated in a range, as if their
// upload events had arrived now: a file whose current version already has a
// succeeded run is skipped unless --force, which reruns it; a failed run is
// rerun; a running one is left alone.
func (c *runsCLI) backfill(ctx context.Context, args []string) int {
	var conn connFlags
	fs := c.flags("backfill", &conn)
	since := fs.String("since", "", "first file `date` (2026-04-26 or 20260426), from the spec's date group; required")
	until := fs.String("until", "", "last file `date`, included (default: no end)")
	prefix := fs.String("prefix", "", "only inbox objects under `prefix`")
	force := fs.Bool("force", false, "rerun files that already have a succeeded run")
	dry := fs.Bool("dry-run", false, "say what would be done, and do nothing")
	wait := fs.Bool("wait", false, "follow the runs until they end; exit 1 if one fails")
	interval := fs.Duration("interval", time.Second, "with --wait: how often to poll the records")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usagef(fs, "backfill takes no arguments")
	}
	if *since == "" {
		return c.usagef(fs, "--since is required")
	}
	from, err := parseDate(*since)
	if err != nil {
		return c.usagef(fs, "--since %v", err)
	}
	to := "99991231"
	if *until != "" {
		t, err := parseDate(*until)
		if err != nil {
			return c.usagef(fs, "--until %v", err)
		}
		if t.Before(from) {
			return c.usagef(fs, "--until %s is before --since %s", *until, *since)
		}
		to = t.Format("20060102")
	}
	a, done, code, ok := c.open(ctx, conn, steer)
	if !ok {
		return code
	}
	defer done()

	files, skipped, err := inboxFiles(ctx, a, *prefix, from.Format("20060102"), to)
	if err != nil {
		return c.errorf("%v", err)
	}
	fmt.Fprintf(c.stdout, "%d files in gs://%s/%s dated %s to %s", len(files), a.Config.InboxBucket, *prefix, from.Format(time.DateOnly), dateOrOpen(to))
	if skipped.outside+skipped.undated > 0 {
		fmt.Fprintf(c.stdout, " (%d others outside the range, %d without a date in their name)", skipped.outside, skipped.undated)
	}
	fmt.Fprintln(c.stdout)

	// With --wait, read the records before acting, so reruns show as such.
	fl := newFollower(a.Runs, c.stdout)
	if *wait && !*dry {
		for _, f := range files {
			fl.only(f.id)
		}
		if err := fl.start(ctx); err != nil {
			return c.errorf("%v", err)
		}
	}
	acted := map[string]bool{}
	var tally struct{ started, rerun, skipped, failed int }
	for i, f := range files {
		action, id, err := c.backfillOne(ctx, a, f, *force, *dry)
		switch {
		case err != nil:
			tally.failed++
			action = "ERROR " + err.Error()
		case action == "started" || action == "would start":
			tally.started++
		case action == "rerun" || action == "would rerun":
			tally.rerun++
		default:
			tally.skipped++
		}
		if err == nil && (action == "started" || action == "rerun") {
			acted[id] = true
		}
		fmt.Fprintf(c.stdout, "[%d/%d] %s  %s  %-19s %s\n", i+1, len(files), f.object, f.date, action, f.id)
	}
	verb := ""
	if *dry {
		verb = "would be "
	}
	fmt.Fprintf(c.stdout, "backfill: %d %sstarted, %d %srerun, %d skipped, %d errors\n", tally.started, verb, tally.rerun, verb, tally.skipped, tally.failed)
	code = runsOK
	if tally.failed > 0 {
		code = runsFailed
	}
	if *wait && len(acted) > 0 {
		fl.ids = acted
		if c.waitFor(ctx, fl, *interval) != runsOK {
			code = runsFailed
		}
	}
	return code
}

// backfillOne starts or reruns one file's run, or says why not
// (ingest.Backfill, which the chaos test races against running epochs).
func (c *runsCLI) backfillOne(ctx context.Context, a *app.App, f backfillFile, force, dry bool) (action, id string, err error) {
	obj := gcsevent.Object{Bucket: a.Config.InboxBucket, Name: f.object, Generation: f.generation, Size: f.size}
	return ingest.Backfill(ctx, a, obj, f.id, force, dry)
}

type backfillSkips struct{ outside, undated int }

// inboxFiles lists the inbox objects a spec takes whose date is in [from, to]
// (YYYYMMDD), oldest date first.
func inboxFiles(ctx context.Context, a *app.App, prefix, from, to string) ([]backfillFile, backfillSkips, error) {
	var skips backfillSkips
	set, err := a.Specs.Set(ctx)
	if err != nil {
		return nil, skips, fmt.Errorf("load specs: %w", err)
	}
	q := &storage.Query{Prefix: prefix}
	if err := q.SetAttrSelection([]string{"Name", "Generation", "Size"}); err != nil {
		return nil, skips, err
	}
	var files []backfillFile
	it := a.Clients.Storage.Bucket(a.Config.InboxBucket).Objects(ctx, q)
	for {
		o, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, skips, fmt.Errorf("list gs://%s/%s: %w", a.Config.InboxBucket, prefix, err)
		}
		p, date, ok := set.Match(o.Name)
		switch {
		case !ok:
			continue
		case date == "":
			skips.undated++
			continue
		case date < from || date > to:
			skips.outside++
			continue
		}
		src := run.Source{Bucket: a.Config.InboxBucket, Object: o.Name, Generation: o.Generation, Size: o.Size}
		files = append(files, backfillFile{o.Name, o.Generation, o.Size, p.Name, date, run.ID(p.Name, src)})
	}
	slices.SortFunc(files, func(x, y backfillFile) int {
		return cmp.Or(cmp.Compare(x.date, y.date), cmp.Compare(x.object, y.object))
	})
	return files, skips, nil
}

func dateOrOpen(yyyymmdd string) string {
	if yyyymmdd == "99991231" {
		return "now"
	}
	t, _ := time.Parse("20060102", yyyymmdd)
	return t.Format(time.DateOnly)
}
