package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dropcast/dropcast/shared/spec"
)

// cmdValidate checks spec files (or every spec in a directory) and reports
// each problem as FILE:LINE: PATH: MESSAGE. Exit 0: all valid; 1: problems; 2: usage.
func cmdValidate(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast validate SPEC|DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageExit(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	files := map[string][]byte{}
	for _, arg := range fs.Args() {
		paths := []string{arg}
		if fi, err := os.Stat(arg); err == nil && fi.IsDir() {
			paths, _ = filepath.Glob(filepath.Join(arg, "*.y*ml"))
		}
		if len(paths) == 0 {
			fmt.Fprintf(stderr, "dropcast validate: no spec files (*.yaml, *.yml) in %s\n", arg)
			return 2
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintf(stderr, "dropcast validate: %v\n", err)
				return 2
			}
			files[p] = b
		}
	}
	set, err := spec.ParseSet(files)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	for _, p := range set.Pipelines {
		fmt.Fprintf(stdout, "ok: pipeline %q (%d columns, %s into %s, %s %s)\n", p.Name, len(p.Columns), p.Destination.WriteMode, p.Destination.Table, p.Predict.Backend, p.Predict.Mode)
	}
	return 0
}
