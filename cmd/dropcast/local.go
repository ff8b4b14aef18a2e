package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dropcast/dropcast/shared/config"
	"github.com/dropcast/dropcast/shared/events"
	"github.com/dropcast/dropcast/shared/localstack"
	"github.com/dropcast/dropcast/shared/logging"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/sample"
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
	var inputs, specs multiFlag
	fs.Var(&inputs, "input", "a CSV to process, uploaded as incoming/BASENAME (repeatable)")
	fs.Var(&specs, "spec", "a pipeline spec file or directory to use instead of the sample spec (repeatable)")
	out := fs.String("out", "dropcast-out", "write each run's run.json, results.csv and rejects.csv under `DIR`/RUN_ID (empty: don't)")
	watch := fs.String("watch", "", "keep running and process every CSV that appears in `DIR`")
	budget := fs.Duration("budget", 0, "a step's time budget before it checkpoints and re-enqueues itself (0: the production default)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on a run after this long")
	verbose := fs.Bool("v", false, "print the functions' JSON logs on stderr")
	noIAM := fs.Bool("no-iam", false, "don't enforce infra/iam.tf: by default every function calls the emulators as its own service account, and a call its roles do not allow is refused")
	chaos := fs.Int64("chaos", 0, "inject a reproducible mix of faults derived from `SEED` (duplicates, crashes, 5xx, tiny budgets)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast local [--input FILE]... [--spec SPEC] [--out DIR] [--watch DIR]")
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

	p := &printer{w: stdout}
	opts := localstack.Options{Specs: specFiles, OnEvent: p.event, NoIAM: *noIAM}
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
	p.printf("local stack up in %s: functions at %s (storage %s, bigquery %s)\n",
		time.Since(start).Round(time.Millisecond), stack.URL, stack.GCS.URL(), strings.TrimSuffix(stack.BQ.Endpoint(), "/bigquery/v2/"))
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
			b, err := os.ReadFile(in)
			if err != nil {
				fmt.Fprintf(stderr, "dropcast local: %v\n", err)
				return 2
			}
			files = append(files, localFile{name: filepath.Base(in), data: b})
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

type localFile struct {
	name string
	data []byte
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
	id, err := l.stack.Drop(ctx, object, f.data)
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
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				l.p.printf("%s: %v\n", name, err)
				continue
			}
			l.process(ctx, localFile{name: name, data: b})
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
