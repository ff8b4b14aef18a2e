package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dropcast/dropcast/shared/model"
)

// cmdModel runs `dropcast model train|info`.
func cmdModel(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: dropcast model train --target COL [--task classification|regression] [--out FILE] [--ignore COL,...] [--categorical COL,...] TRAIN.csv")
		fmt.Fprintln(stderr, "       dropcast model info FILE")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "train":
		return cmdModelTrain(args[1:], stdout, stderr)
	case "info":
		return cmdModelInfo(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "dropcast model: unknown subcommand %q\n", args[0])
	usage()
	return 2
}

// cmdModelTrain runs `dropcast model train`: trains dropcast's own model
// from a labelled CSV, prints its held-out quality next to the trivial
// baseline's and writes the model file.
func cmdModelTrain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "the `column` to predict (required)")
	task := fs.String("task", "", "classification or regression (default: inferred from the target: strings, booleans and integers with at most 10 values are classes)")
	out := fs.String("out", "", "write the model to `file` (default: TRAIN.csv's name with .model.json)")
	ignore := fs.String("ignore", "", "comma-separated `columns` not to read (besides dropcast_row and _row)")
	categorical := fs.String("categorical", "", "comma-separated `columns` to read as categories even when they hold numbers")
	holdOut := fs.Float64("holdout", model.DefaultHoldOut, "`fraction` of rows held out to measure quality")
	seed := fs.Uint64("seed", model.DefaultSeed, "`seed` of the shuffle that picks the held-out rows")
	l2 := fs.Float64("l2", model.DefaultL2, "ridge penalty on the weights")
	minCount := fs.Int("min-count", model.DefaultMinCount, "a category value needs `n` training rows for its own indicator; rarer ones count as other")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast model train --target COL [--task classification|regression] [--out FILE] [flags] TRAIN.csv")
		fs.PrintDefaults()
	}
	files, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if *target == "" || len(files) != 1 {
		fs.Usage()
		return 2
	}
	src := files[0]
	f, err := os.Open(src)
	if err != nil {
		fmt.Fprintf(stderr, "dropcast model train: %v\n", err)
		return 1
	}
	defer f.Close()
	res, err := model.Train(f, model.TrainOptions{
		Target: *target, Task: model.Task(*task), Ignore: splitList(*ignore), Categorical: splitList(*categorical),
		HoldOut: *holdOut, Seed: *seed, L2: *l2, MinCount: *minCount, Source: src,
	})
	if err != nil {
		fmt.Fprintf(stderr, "dropcast model train: %v\n", err)
		return 1
	}
	dst := *out
	if dst == "" {
		dst = strings.TrimSuffix(src, filepath.Ext(src)) + ".model.json"
	}
	if err := writeModel(dst, res.Model); err != nil {
		fmt.Fprintf(stderr, "dropcast model train: %v\n", err)
		return 1
	}
	printTrained(stdout, src, dst, *seed, res)
	return 0
}

// parseInterspersed parses flags given before or after the positional
// arguments; ok is false when parsing ended the command (with code).
func parseInterspersed(fs *flag.FlagSet, args []string) (files []string, code int, ok bool) {
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if fs.NArg() == 0 {
			return files, 0, true
		}
		files, rest = append(files, fs.Arg(0)), fs.Args()[1:]
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// writeModel writes the model to a temporary file and renames it, so a
// failed write leaves no half model behind.
func writeModel(path string, m *model.Model) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*.json")
	if err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := m.WriteJSON(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write model %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write model %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

func printTrained(w io.Writer, src, dst string, seed uint64, res *model.Trained) {
	m := res.Model
	fmt.Fprintf(w, "trained a %s model of %q on %s", m.Task(), m.Target(), src)
	if m.Task() == model.Classification {
		fmt.Fprintf(w, ": %d classes (%s)", len(m.Classes()), strings.Join(m.Classes(), ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "rows: %d read, %d without a target (not used), %d to train, %d held out (seed %d)\n", res.Rows, res.Skipped, res.Train, res.HeldOut, seed)
	fmt.Fprintf(w, "columns: %s\n", describeColumns(m))
	for _, d := range res.Dropped {
		fmt.Fprintf(w, "not used: %s (%s)\n", d.Column, d.Reason)
	}
	fmt.Fprintf(w, "held-out quality (%d rows):\n", res.HeldOut)
	q, b := res.Quality, res.Baseline
	if m.Task() == model.Classification {
		fmt.Fprintf(w, "  %-10s %10s %10s\n", "", "model", "baseline")
		fmt.Fprintf(w, "  %-10s %10.4f %10.4f   (baseline: always the training rows' majority class)\n", "accuracy", q.Accuracy, b.Accuracy)
		fmt.Fprintf(w, "  %-10s %10.4f %10.4f   (baseline: the training rows' class shares)\n", "log loss", q.LogLoss, b.LogLoss)
		if q.Accuracy <= b.Accuracy && q.LogLoss >= b.LogLoss {
			fmt.Fprintln(w, "note: the model does not beat the baseline on the held-out rows")
		}
	} else {
		fmt.Fprintf(w, "  %-10s %10s %10s\n", "", "model", "baseline")
		fmt.Fprintf(w, "  %-10s %10.4g %10.4g   (baseline: always the training rows' mean)\n", "RMSE", q.RMSE, b.RMSE)
		fmt.Fprintf(w, "  %-10s %10.4f %10.4f\n", "R²", q.R2, b.R2)
		if q.RMSE >= b.RMSE {
			fmt.Fprintln(w, "note: the model does not beat the baseline on the held-out rows")
		}
	}
	fmt.Fprintf(w, "wrote %s\n", dst)
}

// describeColumns lists the model's columns with how it reads each.
func describeColumns(m *model.Model) string {
	var parts []string
	for _, col := range m.Columns() {
		var levels int
		var extra []string
		kind := ""
		for _, f := range m.Features {
			if f.Column != col {
				continue
			}
			switch f.Transform {
			case model.TransformNumber:
				kind = "number"
			case model.TransformBool:
				kind = "boolean"
			case model.TransformOneHot:
				kind = "category"
				levels++
			case model.TransformOther:
				extra = append(extra, "other")
			case model.TransformMissing:
				extra = append(extra, "missing")
			}
		}
		desc := kind
		if kind == "category" {
			desc = fmt.Sprintf("category of %d values", levels)
			if levels == 1 {
				desc = "category of 1 value"
			}
		}
		if len(extra) > 0 {
			desc += " + " + strings.Join(extra, " + ")
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", col, desc))
	}
	return strings.Join(parts, ", ")
}

// cmdModelInfo runs `dropcast model info FILE`: loads a model file of any
// format dropcast serves (with its sidecar) and prints what it predicts
// from which columns.
func cmdModelInfo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model info", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dropcast model info FILE")
		fs.PrintDefaults()
	}
	files, code, ok := parseInterspersed(fs, args)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fs.Usage()
		return 2
	}
	p, err := model.Open(files[0])
	if err != nil {
		fmt.Fprintf(stderr, "dropcast model info: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "task: %s\ntarget: %s\n", p.Task(), p.Target())
	if p.Task() == model.Classification {
		fmt.Fprintf(stdout, "classes: %s\n", strings.Join(p.Classes(), ", "))
	}
	fmt.Fprintf(stdout, "columns: %s\nnumeric columns: %s\n", strings.Join(p.Columns(), ", "), strings.Join(p.NumericColumns(), ", "))
	return 0
}
