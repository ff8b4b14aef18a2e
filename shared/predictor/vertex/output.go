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

// ReadOutput reads every predictions_N.csv directly in out.Dir, in the order
// of N, calling fn per row, and returns how many rows the errors_N.csv
// files hold.
func (b *Backend) ReadOutput(ctx context.Context, out predictor.Output, fn func(predictor.Prediction) error) (int64, error) {
	n, err := tabular.Read(ctx, b.cfg.Storage, out, predictionsPrefix, fn)
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
