package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dropcast/dropcast/shared/modelcheck"
	"github.com/dropcast/dropcast/shared/spec"
)

// cmdValidate checks spec files (or every spec in a directory) and reports
// each problem as FILE:LINE: PATH: MESSAGE; with --model ID=FILE it also
// checks each spec whose model is ID against that model file. Exit 0: all
// valid; 1: problems; 2: usage.
func cmdValidate(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var modelFiles multiFlag
	fs.Var(&modelFiles, "model", "check each spec whose predict.model is .../models/ID against model `ID=FILE`: its target is not among its inputs, the spec's clean columns hold every column it reads, as numbers where it reads numbers (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast validate [--model ID=FILE]... SPEC|DIR...")
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
	models, err := openModels(modelFiles)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast validate: %v\n", err)
		return 2
	}
	set, err := spec.ParseSet(files)
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}
	if len(models) > 0 {
		bad := false
		for _, p := range set.Pipelines {
			_, _, id, _ := modelcheck.ParseName(p.Predict.Model)
			m, ok := models[id]
			if !ok {
				fmt.Fprintf(stdout, "pipeline %q: predict.model %q is none of the --model IDs (%s)\n", p.Name, p.Predict.Model, strings.Join(slices.Sorted(maps.Keys(models)), ", "))
				bad = true
				continue
			}
			for _, problem := range modelcheck.Check(p, m) {
				fmt.Fprintf(stdout, "pipeline %q, model %s: %s\n", p.Name, id, problem)
				bad = true
			}
		}
		if bad {
			return 1
		}
		for _, id := range slices.Sorted(maps.Keys(models)) {
			fmt.Fprintf(stdout, "ok: model %s %s\n", id, modelcheck.Describe(models[id]))
		}
	}
	for _, p := range set.Pipelines {
		fmt.Fprintf(stdout, "ok: pipeline %q (%d columns, %s into %s, %s %s)\n", p.Name, len(p.Columns), p.Destination.WriteMode, p.Destination.Table, p.Predict.Backend, p.Predict.Mode)
	}
	return 0
}
