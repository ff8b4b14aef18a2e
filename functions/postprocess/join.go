package postprocess

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/kernel"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/schema"
)

// joinError is a permanent problem joining predictions to rows.
type joinError struct{ msg string }

func (e *joinError) Error() string { return e.msg }

// writeResults streams the clean parts, joins each row to its prediction and
// writes the results CSV. It returns the rows written and the rows the model
// service reported as errors.
func (s *Step) writeResults(ctx context.Context, x *kernel.Exec, object string) (rows, errRows int64, err error) {
	dir := x.Run.Outputs["predictions"]
	if dir == "" {
		return 0, 0, &joinError{"the run records no prediction output directory"}
	}
	b, err := s.app.Predictor(ctx, x.Pipeline.Predict.Backend)
	if err != nil {
		return 0, 0, err
	}
	preds := map[string]predictor.Prediction{}
	errRows, err = b.ReadOutput(ctx, dir, func(p predictor.Prediction) error {
		preds[p.RowKey] = p
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read predictions in %s: %w", dir, err)
	}

	gcs := s.app.Clients.Storage
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the results object on any early return
	w := gcs.Bucket(s.app.Config.ResultsBucket).Object(object).NewWriter(ctx)
	w.ContentType = "text/csv"
	out := csv.NewWriter(w)
	header := make([]string, 0, len(x.Pipeline.Columns)+len(metadataColumns))
	for _, c := range x.Pipeline.Columns {
		header = append(header, c.Name)
	}
	header = append(header, metadataColumns...)
	if err := out.Write(header); err != nil {
		return 0, 0, err
	}
	meta := metadata{
		runID:       x.Run.ID,
		source:      x.Run.Source.URI(),
		model:       x.Pipeline.Predict.Model,
		predictedAt: x.Run.StepState(run.Predict).FinishedAt.UTC().Format("2006-01-02 15:04:05.000000 UTC"),
	}
	parts, err := listParts(ctx, gcs.Bucket(s.app.Config.WorkBucket), x.Run.WorkPrefix()+"clean/")
	if err != nil {
		return 0, 0, err
	}
	for _, part := range parts {
		n, err := joinPart(ctx, gcs.Bucket(s.app.Config.WorkBucket).Object(part), preds, meta, len(x.Pipeline.Columns), out)
		if err != nil {
			return 0, 0, err
		}
		rows += n
	}
	out.Flush()
	if err := out.Error(); err != nil {
		return 0, 0, fmt.Errorf("write results: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, 0, fmt.Errorf("write results gs://%s/%s: %w", s.app.Config.ResultsBucket, object, err)
	}
	return rows, errRows, nil
}

type metadata struct{ runID, source, model, predictedAt string }

// joinPart writes the rows of one clean part that have a prediction.
func joinPart(ctx context.Context, obj *storage.ObjectHandle, preds map[string]predictor.Prediction, meta metadata, ncols int, out *csv.Writer) (int64, error) {
	r, err := obj.NewReader(ctx)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", obj.ObjectName(), err)
	}
	defer r.Close()
	in := csv.NewReader(r)
	in.ReuseRecord = true
	head, err := in.Read()
	if err != nil {
		return 0, fmt.Errorf("read %s header: %w", obj.ObjectName(), err)
	}
	key := slices.Index(head, schema.RowKeyColumn)
	if key < 0 {
		return 0, &joinError{fmt.Sprintf("%s has no %s column", obj.ObjectName(), schema.RowKeyColumn)}
	}
	var n int64
	row := make([]string, 0, ncols+len(metadataColumns))
	for {
		rec, err := in.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", obj.ObjectName(), err)
		}
		p, ok := preds[rec[key]]
		if !ok {
			continue // the service reported this row in its errors files
		}
		row = append(row[:0], rec[:ncols]...)
		row = append(row, p.Label, strconv.FormatFloat(p.Score, 'f', -1, 64), meta.runID, meta.source, meta.model, meta.predictedAt, rec[key])
		if err := out.Write(row); err != nil {
			return n, err
		}
		n++
	}
}

// listParts lists the objects under prefix in name order.
func listParts(ctx context.Context, b *storage.BucketHandle, prefix string) ([]string, error) {
	var names []string
	it := b.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names, nil
}
