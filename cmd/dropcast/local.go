package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/model"
	"github.com/dropcast/dropcast/shared/modelcheck"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
	"github.com/dropcast/dropcast/shared/spec"
)

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// cmdLocal runs the pipeline on the local stack: the bundled sample by
// default, the --input files, or every file that appears in --watch DIR.
func cmdLocal(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var inputs, specs, modelFiles multiFlag
	fs.Var(&inputs, "input", "a CSV to process, uploaded as incoming/BASENAME (repeatable)")
	fs.Var(&specs, "spec", "a pipeline spec file or directory to use instead of the sample spec (repeatable)")
	fs.Var(&modelFiles, "model", "serve model `ID=FILE` (a dropcast model, or an XGBoost or LightGBM model with its sidecar) as projects/"+
		sample.Project+"/locations/"+localstack.Region+"/models/ID to both prediction emulators, besides the demo model "+sample.ModelID+" (repeatable)")
	out := fs.String("out", "dropcast-out", "write each run's run.json, results.csv and rejects.csv under `DIR`/RUN_ID (empty: don't)")
	watch := fs.String("watch", "", "keep running and process every CSV that appears in `DIR`")
	budget := fs.Duration("budget", 0, "a step's time budget before it checkpoints and re-enqueues itself (0: the production default)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on a run after this long")
	verbose := fs.Bool("v", false, "print the functions' JSON logs on stderr")
	noIAM := fs.Bool("no-iam", false, "don't enforce infra/iam.tf: by default every function calls the emulators as its own service account, and a call its roles do not allow is refused")
	chaos := fs.Int64("chaos", 0, "inject a reproducible mix of faults derived from `SEED` (duplicates, crashes, 5xx, tiny budgets)")
	procs := fs.Bool("processes", false, "run each function as its own process (a build of ./cmd/functions, configured by environment variables as deployed) and print each one's peak memory; needs the go command and the repository; not with --chaos")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast local [--input FILE]... [--spec SPEC] [--model ID=FILE]... [--out DIR] [--watch DIR]")
		fmt.Fprintln(stderr, "\nRuns ingest → preprocess → load → predict → postprocess offline, on in-process")
		fmt.Fprintln(stderr, "emulators, with no input: on the bundled sample.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dropcast local: unexpected argument %q (give files with --input FILE)\n", fs.Arg(0))
		return 2
	}
	specFiles, err := readSpecs(specs)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast local: %v\n", err)
		return 2
	}

	models, err := openModels(modelFiles)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast local: %v\n", err)
		return 2
	}
	setFiles := specFiles
	if setFiles == nil {
		setFiles = map[string][]byte{sample.SpecName: sample.Spec}
	}
	set, err := spec.ParseSet(setFiles)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast local: specs: %v\n", err)
		return 2
	}

	p := &printer{w: stdout}
	opts := localstack.Options{Specs: specFiles, OnEvent: p.event, NoIAM: *noIAM, Models: models}
	opts.Processes = *procs
	if *verbose {
		opts.Log = logging.New(stderr, slog.LevelDebug)
	}
	if *chaos != 0 {
		ch := localstack.ChaosFor(*chaos)
		opts.Chaos = &ch
		p.printf("chaos: %s\n", ch)
	}
	if *budget > 0 {
		opts.Configure = func(c *config.Config) {
			// A step's budget is min(timeout, dispatch deadline) - margin.
			c.StepTimeout = *budget + c.SafetyMargin
			c.DispatchDeadline = min(30*time.Minute, max(15*time.Second, c.StepTimeout))
		}
	}
	start := time.Now()
	stack, err := localstack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast local: start the local stack: %v\n", err)
		return 1
	}
	defer stack.Close()
	if err := checkModels(set, localstack.ServedModels(models), stack.Vertex.ProjectNumber()); err != nil {
		fmt.Fprintf(stderr, "dropcast local: %v\n", err)
		return 2
	}
	p.printf("local stack up in %s: functions at %s (storage %s, bigquery %s)\n",
		time.Since(start).Round(time.Millisecond), stack.URL, stack.GCS.URL(), strings.TrimSuffix(stack.BQ.Endpoint(), "/bigquery/v2/"))
	for _, id := range slices.Sorted(maps.Keys(models)) {
		p.printf("serving model %s: %s\n", id, modelcheck.Describe(models[id]))
	}
	p.printf("status page: %s/status/ (kept up with --watch)\n", stack.URL)

	l := &localRun{stack: stack, out: *out, timeout: *timeout, p: p}
	if *watch != "" {
		p.printf("to see and steer this stack's runs from another shell (dropcast runs list, show, rerun, …):\n  export %s\n",
			strings.Join(stack.Config.Env(), " "))
		return l.watch(ctx, *watch)
	}
	files := []localFile{{name: sample.FileName, data: sample.CSV}}
	if len(inputs) > 0 {
		files = files[:0]
		for _, in := range inputs {
			if _, err := os.Stat(in); err != nil {
				fmt.Fprintf(stderr, "dropcast local: %v\n", err)
				return 2
			}
			files = append(files, localFile{name: filepath.Base(in), path: in})
		}
	} else {
		p.printf("no --input given: processing the bundled sample %s (%d bytes)\n", sample.FileName, len(sample.CSV))
	}
	failed := 0
	for _, f := range files {
		if !l.process(ctx, f) {
			failed++
		}
	}
	if failed > 0 {
		p.printf("\n%d of %d files did not end in a succeeded run\n", failed, len(files))
		return 1
	}
	return 0
}

// openModels opens the --model ID=FILE flags' files by ID.
func openModels(flags []string) (map[string]model.Predictor, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	models := map[string]model.Predictor{}
	for _, f := range flags {
		id, file, ok := strings.Cut(f, "=")
		if !ok || !validModelID(id) || file == "" {
			return nil, fmt.Errorf("--model %q: want ID=FILE, the ID of letters, digits, - and _", f)
		}
		if _, dup := models[id]; dup {
			return nil, fmt.Errorf("--model %q: model %s is given twice", f, id)
		}
		m, err := model.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", id, err)
		}
		models[id] = m
	}
	return models, nil
}

// validModelID says whether id may name a local model.
func validModelID(id string) bool {
	return id != "" && strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// checkModels checks, before any file is dropped, that every pipeline's
// model is served and can predict the pipeline's clean rows, and says how
// to fix what is not.
func checkModels(set *spec.Set, served map[string]model.Predictor, projectNumber string) error {
	var problems []string
	for _, p := range set.Pipelines {
		id, m, err := modelcheck.Served(p, served, sample.Project, projectNumber, localstack.Region)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, problem := range modelcheck.Check(p, m) {
			problems = append(problems, fmt.Sprintf("pipeline %q, model %s: %s", p.Name, id, problem))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// localFile is a file to drop: the file at path, streamed (never read
// whole), or data when path is empty.
type localFile struct {
	name string
	path string
	data []byte
}

// open returns the file's contents to stream.
func (f localFile) open() (io.ReadCloser, error) {
	if f.path == "" {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return os.Open(f.path)
}

// readSpecs reads spec files or directories; nil means the sample spec.
func readSpecs(paths []string) (map[string][]byte, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	files := map[string][]byte{}
	for _, p := range paths {
		list := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			list, _ = filepath.Glob(filepath.Join(p, "*.y*ml"))
		}
		for _, f := range list {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			files[filepath.Base(f)] = b
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no spec files found in --spec")
	}
	return files, nil
}

type localRun struct {
	stack   *localstack.Stack
	out     string
	timeout time.Duration
	p       *printer
}

// process drops one file, follows its run to the end and reports it.
func (l *localRun) process(ctx context.Context, f localFile) bool {
	object := "incoming/" + f.name
	in, err := f.open()
	if err != nil {
		l.p.printf("%s: %v\n", f.name, err)
		return false
	}
	id, err := l.stack.DropFrom(ctx, object, in)
	in.Close()
	if err != nil {
		l.p.printf("%s: %v\n", f.name, err)
		return false
	}
	if id == "" {
		l.p.printf("%s: no pipeline spec matches %s; nothing to do (the default pattern is incoming/YYYYMMDD-HHMMSS.csv)\n", f.name, object)
		return false
	}
	l.p.printf("\ndropped gs://%s/%s → run %s\n", localstack.InboxBucket, object, id)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	r, err := l.stack.Wait(ctx, id, nil)
	if err != nil {
		l.p.printf("%s: %v\n", id, err)
		return false
	}
	l.p.flush()
	l.p.printf("%s", timeline(r))
	if crashed := l.stack.CrashedAttempts(); len(crashed) > 0 {
		l.p.printf("  chaos crashed attempts: %v (every one redelivered and recovered)\n", crashed)
	}
	if peaks := l.stack.PeakRSS(); peaks != nil {
		l.p.printf("  peak memory (RSS) of each function's process so far: %s\n", peakRSS(peaks))
	}
	if l.out != "" {
		dir, err := writeOutputs(ctx, l.stack, r, l.out)
		if err != nil {
			l.p.printf("write outputs: %v\n", err)
			return false
		}
		l.p.printf("outputs: %s\n", dir)
	}
	return r.Status == run.Succeeded
}

// peakRSS lists the function processes' peak memory in MiB, in the
// stack's order of functions.
func peakRSS(peaks map[string]int64) string {
	var parts []string
	for _, fn := range localstack.Functions {
		if b, ok := peaks[fn]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", fn, float64(b)/(1<<20)))
		}
	}
	return strings.Join(parts, ", ")
}

// watch processes every CSV that appears in dir until ctx ends.
func (l *localRun) watch(ctx context.Context, dir string) int {
	l.p.printf("watching %s for CSV files (Ctrl-C to stop)\n", dir)
	seen := map[string]string{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			l.p.printf("watch %s: %v\n", dir, err)
			return 2
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".csv.gz")) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			stamp := fmt.Sprint(info.Size(), info.ModTime().UnixNano())
			if seen[name] == stamp || time.Since(info.ModTime()) < time.Second {
				continue // processed already, or still being written
			}
			seen[name] = stamp
			l.process(ctx, localFile{name: name, path: filepath.Join(dir, name)})
		}
		select {
		case <-ctx.Done():
			l.p.printf("stopped watching\n")
			return 0
		case <-tick.C:
		}
	}
}

// printer serialises output from the event subscriber and the main flow.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// flush waits briefly so events published just before a run ended are printed first.
func (p *printer) flush() { time.Sleep(100 * time.Millisecond) }

// event prints a run event as it happens.
func (p *printer) event(e events.Event) {
	switch e.Type {
	case events.RunStarted:
		p.printf("  %s  run started: %s\n", e.Time.Format("15:04:05.000"), e.Source)
	case events.StepFinished:
		p.printf("  %s  %-11s %-6s attempts=%d %s%s\n", e.Time.Format("15:04:05.000"), e.Step, e.Status, e.Attempts,
			(time.Duration(e.DurationMS) * time.Millisecond).String(), errSuffix(e.Error))
	case events.RunSucceeded, events.RunFailed:
		p.printf("  %s  %s%s\n", e.Time.Format("15:04:05.000"), e.Type, errSuffix(e.Error))
	}
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return "  error: " + s
}
