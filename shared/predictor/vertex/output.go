package vertex

import (
	"context"
	"fmt"
	"strings"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/predictor/tabular"
)

// predictionsPrefix names Vertex AI's predictions files: predictions_1.csv,
// predictions_2.csv, ... ("Get batch predictions", fixture
// vertex-batch-output-files).
const predictionsPrefix = "predictions_"

// ListOutput lists the predictions_N.csv files directly in out.Dir, in the
// order of N, and its errors_N.csv files.
func (b *Backend) ListOutput(ctx context.Context, out predictor.Output) (predictor.OutputFiles, error) {
	files, err := tabular.List(ctx, b.cfg.Storage, out, predictionsPrefix)
	if err != nil {
		return files, fmt.Errorf("vertex: %w", err)
	}
	return files, nil
}

// OpenOutput opens one predictions file of out.
func (b *Backend) OpenOutput(ctx context.Context, out predictor.Output, file string) (predictor.OutputReader, error) {
	r, err := tabular.Open(ctx, b.cfg.Storage, out, file)
	if err != nil {
		return nil, fmt.Errorf("vertex: %w", err)
	}
	return r, nil
}

// CountErrors counts the rows of an errors_N.csv file.
func (b *Backend) CountErrors(ctx context.Context, file string) (int64, error) {
	n, err := tabular.CountRows(ctx, b.cfg.Storage, file)
	if err != nil {
		return 0, fmt.Errorf("vertex: %w", err)
	}
	return n, nil
}

// WriteOutput writes online predictions as out.Dir/predictions_<part>.csv in
// the batch layout: the input columns, then <target>_<class>_score per class
// (classes sorted) or predicted_<target>.
func (b *Backend) WriteOutput(ctx context.Context, out predictor.Output, part int, rows [][]string, preds []predictor.Prediction) error {
	if part < 1 {
		return fmt.Errorf("vertex: write output: part %d, want >= 1", part)
	}
	target := out.Target
	if target == "" {
		target = predictor.DefaultTarget
	}
	w := tabular.NewWriter(target, tabular.ClassesOf(preds))
	uri := fmt.Sprintf("%s/%s%d.csv", strings.TrimSuffix(out.Dir, "/"), predictionsPrefix, part)
	if err := w.Write(ctx, b.cfg.Storage, uri, out.Input, rows, preds); err != nil {
		return fmt.Errorf("vertex: %w", err)
	}
	return nil
}
