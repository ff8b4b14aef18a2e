// Command dropcast is the pipeline's command line: run the whole pipeline
// offline on emulators (local), check specs (validate), clean a CSV with the
// same code the preprocess function runs (clean), and see and steer runs (runs).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it returns the process's exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"local":    {"run the pipeline offline on in-process emulators", cmdLocal},
		"validate": {"check pipeline specs and report every problem", cmdValidate},
		"clean":    {"clean a local CSV with a spec's rules", cmdClean},
		"runs":     {"see and steer runs: list, show, rerun, backfill, watch", cmdRuns},
		"smoke":    {"check a deployment end to end with the bundled sample", cmdSmoke},
		"model":    {"train a model from a labelled CSV; describe a model file", cmdModel},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dropcast: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdin, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: dropcast COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'dropcast COMMAND -h' for a command's flags.")
}

// usageExit is the exit code after a flag parsing error: 0 for -h, which
// asked for the usage, 2 for anything else.
func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
