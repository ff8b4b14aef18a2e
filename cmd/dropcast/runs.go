package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/dropcast/dropcast/shared/app"
)

// Exit codes of dropcast runs.
const (
	runsOK     = 0 // done; for --wait and watch --run: every run succeeded
	runsFailed = 1 // an operation failed, a run was not found, or a waited-for run failed
	runsUsage  = 2 // bad flags or arguments, or missing configuration
)

// runsCLI is `dropcast runs`: it sees and steers runs through the run store
// of whatever deployment its configuration names.
type runsCLI struct {
	stdout, stderr io.Writer
	// connect opens the App the subcommands work on; tests replace it.
	connect func(ctx context.Context, c connFlags, need access) (*app.App, func(), error)
	now     func() time.Time
}

// runsSub is one subcommand.
type runsSub struct {
	usage, summary string
	run            func(ctx context.Context, args []string) int
}

// cmdRuns runs `dropcast runs SUBCOMMAND [flags] [args]`.
func cmdRuns(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := &runsCLI{stdout: stdout, stderr: stderr, connect: connectRuns(stderr), now: time.Now}
	return c.main(ctx, args)
}

func (c *runsCLI) subs() map[string]runsSub {
	return map[string]runsSub{
		"list":     {"list [--pipeline P] [--status S] [--since WHEN] [--limit N] [--json]", "runs, newest first", c.list},
		"show":     {"show [--json] RUN", "one run: step timeline, counters, errors, outputs", c.show},
		"rerun":    {"rerun [--from STEP] [--force] [--wait] RUN", "run again in a new epoch, from the first step or STEP", c.rerun},
		"backfill": {"backfill --since DATE [--until DATE] [--force] [--dry-run] [--wait]", "start runs for inbox files dated in a range", c.backfill},
		"watch":    {"watch [--pipeline P] [--run RUN] [--interval D] [--json]", "follow runs as they change", c.watch},
	}
}

func (c *runsCLI) main(ctx context.Context, args []string) int {
	subs := c.subs()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(subs)
		if len(args) == 0 {
			return runsUsage
		}
		return runsOK
	}
	s, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "dropcast runs: unknown subcommand %q\n\n", args[0])
		c.usage(subs)
		return runsUsage
	}
	return s.run(ctx, args[1:])
}

func (c *runsCLI) usage(subs map[string]runsSub) {
	w := c.stderr
	fmt.Fprintln(w, "usage: dropcast runs SUBCOMMAND [flags] [args]")
	fmt.Fprintln(w, "\nSee and steer the runs of a deployment: its run records in the state bucket.")
	fmt.Fprintln(w, "\nsubcommands:")
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n            dropcast runs %s\n", n, subs[n].summary, subs[n].usage)
	}
	fmt.Fprintln(w, "\nThe deployment comes from the DROPCAST_* environment variables (as deployed")
	fmt.Fprintln(w, "by Terraform) or flags: --project, --state-bucket, --inbox-bucket, --specs,")
	fmt.Fprintln(w, "--tasks-queue, --step-base-url; credentials are Application Default Credentials.")
	fmt.Fprintln(w, "--local works on a fresh in-process local stack instead.")
	fmt.Fprintln(w, "\nExit codes: 0 ok, 1 failure (or a waited-for run failed), 2 usage.")
}

// flags returns a subcommand's flag set, with the connection flags.
func (c *runsCLI) flags(name string, conn *connFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("runs "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	conn.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: dropcast runs %s\n", c.subs()[name].usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and positional arguments in any order. ok false means
// the caller returns code.
func parse(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, runsOK, false
			}
			return nil, runsUsage, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// open connects for a subcommand; on failure it reports and returns the exit code.
func (c *runsCLI) open(ctx context.Context, conn connFlags, need access) (*app.App, func(), int, bool) {
	a, closeFn, err := c.connect(ctx, conn, need)
	if err != nil {
		fmt.Fprintf(c.stderr, "dropcast runs: %v\n", err)
		if errors.Is(err, errConfig) {
			return nil, nil, runsUsage, false
		}
		return nil, nil, runsFailed, false
	}
	return a, closeFn, 0, true
}

// errorf reports an error and returns runsFailed.
func (c *runsCLI) errorf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "dropcast runs: "+format+"\n", args...)
	return runsFailed
}

// usagef reports a usage error and returns runsUsage.
func (c *runsCLI) usagef(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "dropcast runs: "+format+"\n", args...)
	fs.Usage()
	return runsUsage
}
