package automl

import (
	"context"
	"fmt"
	"strings"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/predictor/tabular"
)

// tablesPrefix names AutoML Tables' predictions files, tables_1.csv,
// tables_2.csv, ...; its errors files are errors_1.csv, ... (the v1beta1
// BatchPredictOutputConfig comment; fixture automl-batch-output). Their
// columns are the tabular layout: the input columns, then
// <target>_<class>_score per class or predicted_<target>.
const tablesPrefix = "tables_"

// ListOutput lists out.Dir's tables_N.csv files (in N order) and its
// errors_N.csv files.
func (b *Backend) ListOutput(ctx context.Context, out predictor.Output) (predictor.OutputFiles, error) {
	files, err := tabular.List(ctx, b.cfg.Storage, out, tablesPrefix)
	if err != nil {
		return files, fmt.Errorf("automl: %w", err)
	}
	return files, nil
}

// OpenOutput opens one tables_N.csv file of out; the target is out.Target,
// else Config.Target, else read from the prediction columns.
func (b *Backend) OpenOutput(ctx context.Context, out predictor.Output, file string) (predictor.OutputReader, error) {
	if out.Target == "" {
		out.Target = b.cfg.Target
	}
	r, err := tabular.Open(ctx, b.cfg.Storage, out, file)
	if err != nil {
		return nil, fmt.Errorf("automl: %w", err)
	}
	return r, nil
}

// CountErrors counts the rows of an errors_N.csv file.
func (b *Backend) CountErrors(ctx context.Context, file string) (int64, error) {
	n, err := tabular.CountRows(ctx, b.cfg.Storage, file)
	if err != nil {
		return 0, fmt.Errorf("automl: %w", err)
	}
	return n, nil
}

// WriteOutput writes online predictions as out.Dir/tables_<part>.csv (rows
// plus one score column per class, classes sorted), the layout of a batch
// job, so OpenOutput reads both. The target is out.Target, else
// Config.Target, else the target of the model Predict last used.
func (b *Backend) WriteOutput(ctx context.Context, out predictor.Output, part int, rows [][]string, preds []predictor.Prediction) error {
	target := out.Target
	if target == "" {
		target = b.cfg.Target
	}
	if target == "" {
		b.mu.Lock()
		target = b.target
		b.mu.Unlock()
	}
	if target == "" {
		target = predictor.DefaultTarget
	}
	w := tabular.NewWriter(target, tabular.ClassesOf(preds))
	uri := fmt.Sprintf("%s/%s%d.csv", strings.TrimRight(out.Dir, "/"), tablesPrefix, part)
	if err := w.Write(ctx, b.cfg.Storage, uri, out.Input, rows, preds); err != nil {
		return fmt.Errorf("automl: %w", err)
	}
	return nil
}
