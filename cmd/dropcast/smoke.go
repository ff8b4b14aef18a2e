package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/bqload"
	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/schema"
	"github.com/dropcast/dropcast/shared/spec"
)

// The steps of a smoke test, as its errors name them.
const (
	smokeConfig   = "config"   // the deployment's configuration
	smokeSpec     = "spec"     // a pipeline spec takes the sample
	smokeUpload   = "upload"   // the sample is in the inbox
	smokeFollow   = "follow"   // the run started and ended in time
	smokeRun      = "run"      // the run record says succeeded, with consistent counters
	smokeBigQuery = "bigquery" // the loaded partition holds the loaded rows
	smokeResults  = "results"  // the results object holds the predicted rows
	smokeCleanup  = "cleanup"  // what the smoke test created is removed
)

// smokeError is a failed smoke step: Step says which, Err why.
type smokeError struct {
	Step string
	Err  error
}

func (e *smokeError) Error() string { return "step " + e.Step + ": " + e.Err.Error() }
func (e *smokeError) Unwrap() error { return e.Err }

func stepErr(step string, err error) error { return &smokeError{Step: step, Err: err} }

func stepErrf(step, format string, args ...any) error {
	return &smokeError{Step: step, Err: fmt.Errorf(format, args...)}
}

// smokeOptions are the flags of dropcast smoke.
type smokeOptions struct {
	conn          connFlags
	pipeline      string
	timeout       time.Duration
	interval      time.Duration
	removeOutputs bool
	// connect opens the deployment (connectRuns; tests replace it).
	connect func(ctx context.Context, f connFlags, need access) (*app.App, func(), error)
	now     func() time.Time
}

// cmdSmoke runs `dropcast smoke`: exit 0 when every step passed, 1 when one
// failed, 2 on bad flags or missing configuration.
func cmdSmoke(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	o := smokeOptions{connect: connectRuns(stderr), now: time.Now}
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.conn.register(fs)
	fs.StringVar(&o.pipeline, "pipeline", "", "run the sample through this `pipeline` (default: the sample spec's, "+samplePipeline()+"); its destination's partition of the sample's day is replaced")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on the run after this long (a batch prediction job alone can take many minutes)")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "how often to read the run record")
	fs.BoolVar(&o.removeOutputs, "remove-outputs", false, "also remove the run's results object and its work files (gs://WORK/runs/RUN/)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast smoke [--pipeline P] [--timeout D] [--remove-outputs] [connection flags]")
		fmt.Fprintln(stderr, "\nChecks a deployment end to end: uploads the bundled sample to the inbox under a")
		fmt.Fprintln(stderr, "new name, follows its run to the end, checks the run record, the loaded BigQuery")
		fmt.Fprintln(stderr, "partition and the results object, prints links, and removes the upload.")
		fmt.Fprintln(stderr, "The deployment comes from the DROPCAST_* variables or the flags, as for dropcast runs;")
		fmt.Fprintln(stderr, "credentials are Application Default Credentials. Exit codes: 0 passed, 1 failed, 2 usage.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dropcast smoke: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.timeout <= 0 || o.interval <= 0 {
		fmt.Fprintln(stderr, "dropcast smoke: --timeout and --interval must be positive")
		return 2
	}
	err := smoke(ctx, o, stdout)
	switch {
	case err == nil:
		fmt.Fprintln(stdout, "\nsmoke test PASSED")
		return 0
	case errors.Is(err, errConfig):
		fmt.Fprintf(stderr, "dropcast smoke: FAILED: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "dropcast smoke: FAILED: %v\n", err)
		return 1
	}
}

// smokeTest is one smoke test in progress.
type smokeTest struct {
	o      smokeOptions
	a      *app.App
	cfg    config.Config
	out    io.Writer
	object string // the uploaded sample's name in the inbox
	runID  string
	rec    *run.Run // the run's final record (nil: it never appeared)
}

// smoke runs every step and removes what it created, whatever happened. The
// error, if any, is a *smokeError naming the first step that failed.
func smoke(ctx context.Context, o smokeOptions, out io.Writer) (err error) {
	cfg, _ := config.FromLookup(o.conn.lookup) // only the fields below matter here
	if !o.conn.local {
		var missing []string
		for name, v := range map[string]string{
			"DROPCAST_INBOX_BUCKET (--inbox-bucket)": cfg.InboxBucket,
			"DROPCAST_SPECS (--specs)":               cfg.Specs,
		} {
			if v == "" {
				missing = append(missing, name+" is required")
			}
		}
		if len(missing) > 0 {
			return stepErr(smokeConfig, fmt.Errorf("%w: %s", errConfig, strings.Join(missing, "; ")))
		}
	}
	a, closeFn, err := o.connect(ctx, o.conn, readRecords)
	if err != nil {
		return stepErr(smokeConfig, err)
	}
	defer closeFn()
	t := &smokeTest{o: o, a: a, cfg: a.Config, out: out}
	fmt.Fprintf(out, "smoke test of project %s (inbox gs://%s, records gs://%s)\n", t.cfg.Project, t.cfg.InboxBucket, t.cfg.StateBucket)

	p, err := t.pipelineFor(ctx)
	if err != nil {
		return err
	}
	if err := t.upload(ctx, p); err != nil {
		return err
	}
	defer func() {
		if cerr := t.cleanup(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := t.follow(ctx); err != nil {
		return err
	}
	if err := t.checkRecord(); err != nil {
		return err
	}
	if err := t.checkBigQuery(ctx, p); err != nil {
		return err
	}
	if err := t.checkResults(ctx); err != nil {
		return err
	}
	return nil
}

// sampleObject is the sample's name in the inbox for an upload at now: the
// sample's own date, so that the run replaces the partition of the day the
// sample's rows belong to (never today's, which may hold real data), and the
// time of day of the upload, so that every invocation has its own name.
func sampleObject(now time.Time) string {
	return "incoming/" + sample.FileName[:8] + "-" + now.UTC().Format("150405") + ".csv"
}

// pipelineFor loads the deployment's specs and returns the pipeline that
// takes the sample's name.
func (t *smokeTest) pipelineFor(ctx context.Context) (*spec.Pipeline, error) {
	set, err := spec.Load(ctx, t.a.Clients.Storage, t.cfg.Specs)
	if err != nil {
		return nil, stepErrf(smokeSpec, "read the pipeline specs at %s: %w", t.cfg.Specs, err)
	}
	name := sampleObject(t.o.now())
	if t.o.pipeline != "" {
		p, ok := set.Get(t.o.pipeline)
		if !ok {
			return nil, stepErrf(smokeSpec, "no pipeline %q in %s", t.o.pipeline, t.cfg.Specs)
		}
		if m, _, ok := set.Match(name); !ok || m.Name != p.Name {
			return nil, stepErrf(smokeSpec, "pipeline %s does not take %s (the sample's name): its match pattern must, and no other spec's before it", p.Name, name)
		}
		return p, nil
	}
	p, _, ok := set.Match(name)
	if !ok {
		return nil, stepErrf(smokeSpec, "no pipeline spec in %s takes %s (the sample's name): deploy the sample spec, infra/specs/purchases.yaml.example, with a model of yours", t.cfg.Specs, name)
	}
	// The run replaces its destination's partition of the sample's day: by
	// default only the sample pipeline's, never a pipeline of real data that
	// happens to take the same names.
	if want := samplePipeline(); p.Name != want {
		return nil, stepErrf(smokeSpec, "%s (the sample's name) would start a run of pipeline %s, not of the sample pipeline %s: deploy the sample spec (infra/specs/purchases.yaml.example), or pass --pipeline %s to run the sample through %s, which replaces partition %s of %s",
			name, p.Name, want, p.Name, p.Name, sample.FileName[:8], p.Destination.Table)
	}
	return p, nil
}

// samplePipeline is the bundled sample spec's pipeline name.
func samplePipeline() string {
	p, err := spec.Parse(sample.SpecName, sample.Spec)
	if err != nil {
		panic("the bundled sample spec does not parse: " + err.Error())
	}
	return p.Name
}

// upload puts the sample in the inbox under a name that no object has and no
// earlier run had: the run's outputs are named after the file (the results
// object, for one), so a reused name would overwrite an earlier run's.
func (t *smokeTest) upload(ctx context.Context, p *spec.Pipeline) error {
	now := t.o.now()
	inbox := t.a.Clients.Storage.Bucket(t.cfg.InboxBucket)
	for try := 0; ; try++ {
		name := sampleObject(now.Add(time.Duration(try) * time.Second))
		base := strings.TrimSuffix(path.Base(name), ".csv")
		earlier, err := t.a.Runs.Generations(ctx, p.Name+"-"+base+"-")
		if err != nil {
			return stepErrf(smokeUpload, "list run records of %s: %w", name, err)
		}
		if len(earlier) > 0 {
			if try >= 600 {
				return stepErrf(smokeUpload, "every name from %s on was used by an earlier run", sampleObject(now))
			}
			continue // an earlier smoke test used this name
		}
		w := inbox.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		w.ContentType = "text/csv"
		_, err = w.Write(sample.CSV)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if isPreconditionFailed(err) && try < 600 {
			continue // another upload took this second's name
		}
		if err != nil {
			return stepErrf(smokeUpload, "upload gs://%s/%s: %w", t.cfg.InboxBucket, name, err)
		}
		t.object = name
		t.runID = run.ID(p.Name, run.Source{Bucket: t.cfg.InboxBucket, Object: name, Generation: w.Attrs().Generation})
		fmt.Fprintf(t.out, "uploaded   gs://%s/%s (%d bytes)%s\n", t.cfg.InboxBucket, name, len(sample.CSV), t.objectLink(t.cfg.InboxBucket, name))
		fmt.Fprintf(t.out, "run        %s (pipeline %s)%s\n\n", t.runID, p.Name, t.statusLink(t.runID))
		return nil
	}
}

func isPreconditionFailed(err error) bool {
	var e interface{ HTTPCode() int }
	if errors.As(err, &e) && e.HTTPCode() == 412 {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "conditionNotMet")
}

// follow prints the run's progress until it ends, with the follow code of
// dropcast runs watch.
func (t *smokeTest) follow(ctx context.Context) error {
	f := newFollower(t.a.Runs, t.out)
	f.only(t.runID)
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, t.o.timeout)
	defer cancel()
	tick := time.NewTicker(t.o.interval)
	defer tick.Stop()
	for {
		err := f.poll(ctx)
		t.rec = f.seen[t.runID]
		if err != nil && ctx.Err() == nil {
			return stepErrf(smokeFollow, "read run record %s: %w", t.a.Runs.URI(t.runID), err)
		}
		if done, _ := f.settled(); done {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				return stepErrf(smokeFollow, "interrupted while run %s was running: %w", t.runID, parent.Err())
			}
			if t.rec == nil {
				return stepErrf(smokeFollow, "no run record %s after %s: the upload did not start a run (is ingest deployed with its Eventarc trigger on gs://%s, and does its service account reach the state bucket? see its logs)",
					t.a.Runs.URI(t.runID), t.o.timeout, t.cfg.InboxBucket)
			}
			return stepErrf(smokeFollow, "run %s still running at step %s after %s (--timeout)", t.runID, t.rec.Step, t.o.timeout)
		case <-tick.C:
		}
	}
}

// checkRecord checks the run succeeded with counters that agree.
func (t *smokeTest) checkRecord() error {
	r := t.rec
	fmt.Fprint(t.out, timeline(r))
	if r.Status != run.Succeeded {
		msg := "no error recorded"
		if r.Error != nil {
			msg = r.Error.Step + ": " + r.Error.Message
		}
		return stepErrf(smokeRun, "run %s %s: %s", r.ID, r.Status, msg)
	}
	c := r.Counters
	switch {
	case c[run.RowsClean] <= 0:
		return stepErrf(smokeRun, "run %s succeeded with no clean rows (rows_clean %d)", r.ID, c[run.RowsClean])
	case c[run.RowsLoaded] != c[run.RowsClean]:
		return stepErrf(smokeRun, "run %s loaded %d rows but cleaned %d", r.ID, c[run.RowsLoaded], c[run.RowsClean])
	}
	return nil
}

// checkBigQuery counts the rows of the partition the run loaded.
func (t *smokeTest) checkBigQuery(ctx context.Context, p *spec.Pipeline) error {
	r := t.rec
	d := p.Destination
	tbl := bqload.ParseTable(d.Table, t.cfg.Project)
	where, what := "", "table"
	if d.WriteMode != spec.Truncate {
		day, err := time.Parse("20060102", r.FileDate)
		if err != nil {
			return stepErrf(smokeBigQuery, "run %s has no file date (%q) to find its partition by", r.ID, r.FileDate)
		}
		col := "_PARTITIONDATE" // ingestion-time partitioning: the file's date is the partition
		if d.PartitionField != "" {
			col = "`" + d.PartitionField + "`"
			if typ := columnType(p.Schema, d.PartitionField); typ != schema.Date {
				col = "DATE(" + col + ")"
			}
		}
		where = fmt.Sprintf(" WHERE %s = DATE '%s'", col, day.Format(time.DateOnly))
		what = "partition " + r.FileDate
	}
	sql := fmt.Sprintf("SELECT COUNT(*) AS n FROM `%s.%s.%s`%s", tbl.Project, tbl.Dataset, tbl.Table, where)
	q := t.a.Clients.BigQuery.Query(sql)
	q.Location = t.cfg.BigQueryLocation
	it, err := q.Read(ctx)
	if err != nil {
		return stepErrf(smokeBigQuery, "count the rows of %s %s (%s): %w", tbl, what, sql, err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		if errors.Is(err, iterator.Done) {
			err = errors.New("no result row")
		}
		return stepErrf(smokeBigQuery, "count the rows of %s %s (%s): %w", tbl, what, sql, err)
	}
	n, ok := row[0].(int64)
	if !ok {
		return stepErrf(smokeBigQuery, "count of %s %s is %v (%T), not an integer", tbl, what, row[0], row[0])
	}
	loaded := r.Counters[run.RowsLoaded]
	fmt.Fprintf(t.out, "\nbigquery   %s %s: %d rows (run loaded %d, cleaned %d)%s\n", tbl, what, n, loaded, r.Counters[run.RowsClean], t.tableLink(tbl))
	switch {
	case d.WriteMode == spec.Append && n < loaded:
		return stepErrf(smokeBigQuery, "%s %s holds %d rows, fewer than the %d the run appended", tbl, what, n, loaded)
	case d.WriteMode != spec.Append && n != loaded:
		return stepErrf(smokeBigQuery, "%s %s holds %d rows, the run loaded %d", tbl, what, n, loaded)
	}
	return nil
}

func columnType(s schema.Schema, name string) schema.Type {
	for _, c := range s.Columns {
		if c.Name == name {
			return c.Type
		}
	}
	return ""
}

// checkResults reads the results object and counts its rows.
func (t *smokeTest) checkResults(ctx context.Context) error {
	r := t.rec
	uri := r.Outputs["results"]
	if uri == "" {
		return stepErrf(smokeResults, "run %s names no results object", r.ID)
	}
	bucket, name, err := gcsuri.Split(uri)
	if err != nil {
		return stepErrf(smokeResults, "results %q: %w", uri, err)
	}
	rd, err := t.a.Clients.Storage.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		return stepErrf(smokeResults, "read %s: %w", uri, err)
	}
	defer rd.Close()
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	var records int64
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stepErrf(smokeResults, "read %s: %w", uri, err)
		}
		records++
	}
	rows := max(records-1, 0) // the header
	predicted := r.Counters[run.RowsPredicted]
	fmt.Fprintf(t.out, "results    %s: %d rows (run predicted %d)%s\n", uri, rows, predicted, t.objectLink(bucket, name))
	if rows != predicted {
		return stepErrf(smokeResults, "%s holds %d rows, the run predicted %d", uri, rows, predicted)
	}
	return nil
}

// cleanup removes the upload (unless its run is still going: removing its
// input would fail it) and, with --remove-outputs, the run's results object
// and work files. It never touches BigQuery, the run record, or any object
// not named after this run.
func (t *smokeTest) cleanup(ctx context.Context) error {
	var errs []error
	fmt.Fprintln(t.out)
	switch {
	case t.rec != nil && !t.rec.Terminal():
		fmt.Fprintf(t.out, "kept       gs://%s/%s: its run has not ended; remove it with: gcloud storage rm gs://%s/%s\n", t.cfg.InboxBucket, t.object, t.cfg.InboxBucket, t.object)
	default:
		if err := t.a.Clients.Storage.Bucket(t.cfg.InboxBucket).Object(t.object).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			errs = append(errs, fmt.Errorf("remove the upload gs://%s/%s: %w", t.cfg.InboxBucket, t.object, err))
		} else {
			fmt.Fprintf(t.out, "removed    gs://%s/%s (the upload)\n", t.cfg.InboxBucket, t.object)
		}
	}
	if t.rec != nil && t.o.removeOutputs {
		if uri := t.rec.Outputs["results"]; uri != "" {
			if bucket, name, err := gcsuri.Split(uri); err == nil {
				if err := t.a.Clients.Storage.Bucket(bucket).Object(name).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
					errs = append(errs, fmt.Errorf("remove %s: %w", uri, err))
				} else {
					fmt.Fprintf(t.out, "removed    %s (the run's results)\n", uri)
				}
			}
		}
		if t.cfg.WorkBucket == "" {
			fmt.Fprintln(t.out, "kept       the run's work files: DROPCAST_WORK_BUCKET is not set (they expire after work_retention_days)")
		} else if n, err := t.removePrefix(ctx, t.cfg.WorkBucket, workPrefix(t.rec)); err != nil {
			errs = append(errs, fmt.Errorf("remove gs://%s/%s: %w", t.cfg.WorkBucket, workPrefix(t.rec), err))
		} else {
			fmt.Fprintf(t.out, "removed    gs://%s/%s (%d work files)\n", t.cfg.WorkBucket, workPrefix(t.rec), n)
		}
	} else if t.rec != nil {
		fmt.Fprintln(t.out, "kept       the run's results object and work files (--remove-outputs removes them)")
	}
	if t.rec != nil {
		fmt.Fprintf(t.out, "kept       %s: the run's record, for dropcast runs show and the status page\n", t.a.Runs.URI(t.runID))
		fmt.Fprintln(t.out, "kept       BigQuery rows: the sample's partition is replaced by the next smoke test, and rows in shared tables are never deleted")
	}
	if err := errors.Join(errs...); err != nil {
		return stepErr(smokeCleanup, err)
	}
	return nil
}

// workPrefix is where every epoch of a run keeps its work files: the parent
// of Run.WorkPrefix (runs/RUN/eN/), named after the run alone.
func workPrefix(r *run.Run) string {
	return path.Dir(strings.TrimSuffix(r.WorkPrefix(), "/")) + "/"
}

// removePrefix deletes every object under prefix and returns how many.
func (t *smokeTest) removePrefix(ctx context.Context, bucket, prefix string) (int, error) {
	b := t.a.Clients.Storage.Bucket(bucket)
	names, err := gcsuri.List(ctx, b, prefix)
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		if err := b.Object(n).Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return 0, fmt.Errorf("gs://%s/%s: %w", bucket, n, err)
		}
	}
	return len(names), nil
}

// emulated reports whether the deployment is a local stack (no console to link to).
func (t *smokeTest) emulated() bool { return t.cfg.StorageEndpoint != "" }

// objectLink is the Cloud console page of an object.
func (t *smokeTest) objectLink(bucket, object string) string {
	if t.emulated() {
		return ""
	}
	return "\n           https://console.cloud.google.com/storage/browser/_details/" + bucket + "/" +
		(&url.URL{Path: object}).EscapedPath() + "?project=" + url.QueryEscape(t.cfg.Project)
}

// tableLink is the BigQuery console page of a table.
func (t *smokeTest) tableLink(tbl bqload.Table) string {
	if t.emulated() {
		return ""
	}
	v := url.Values{"project": {t.cfg.Project}, "p": {tbl.Project}, "d": {tbl.Dataset}, "t": {tbl.Table}, "page": {"table"}}
	return "\n           https://console.cloud.google.com/bigquery?" + v.Encode()
}

// statusLink is the run's page on the status function, when configured.
func (t *smokeTest) statusLink(id string) string {
	if t.cfg.StatusURL == "" {
		return ""
	}
	return "\n           status page: " + strings.TrimSuffix(t.cfg.StatusURL, "/") + "/runs/" + id
}
