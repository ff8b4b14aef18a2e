package vertex

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
)

// ReadOutput reads every predictions_*.csv directly under dir, in name
// order, calling fn per row, and returns how many rows the errors_* files
// hold.
func (b *Backend) ReadOutput(ctx context.Context, dir string, fn func(predictor.Prediction) error) (int64, error) {
	bucket, prefix, err := splitDir(dir)
	if err != nil {
		return 0, err
	}
	var preds, errs []string
	it := b.cfg.Storage.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("vertex: list %s: %w", dir, err)
		}
		base := path.Base(attrs.Name)
		switch {
		case attrs.Name == "" || strings.HasSuffix(attrs.Name, "/"):
		case strings.HasPrefix(base, predictionsPrefix) && strings.HasSuffix(base, ".csv"):
			preds = append(preds, attrs.Name)
		case strings.HasPrefix(base, errorsPrefix):
			errs = append(errs, attrs.Name)
		}
	}
	slices.Sort(preds)
	for _, obj := range preds {
		if err := b.readPredictions(ctx, bucket, obj, fn); err != nil {
			return 0, err
		}
	}
	var errorRows int64
	for _, obj := range errs {
		n, err := b.countRows(ctx, bucket, obj)
		if err != nil {
			return 0, err
		}
		errorRows += n
	}
	return errorRows, nil
}

// readPredictions streams one predictions file to fn.
func (b *Backend) readPredictions(ctx context.Context, bucket, object string, fn func(predictor.Prediction) error) error {
	uri := "gs://" + bucket + "/" + object
	r, err := b.cfg.Storage.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("vertex: open %s: %w", uri, err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("vertex: read header of %s: %w", uri, err)
	}
	keyCol, predCol := slices.Index(header, schema.RowKeyColumn), predictionColumn(header)
	if keyCol < 0 || predCol < 0 {
		return fmt.Errorf("vertex: %s: header needs %s and a predicted_* column, has %q", uri, schema.RowKeyColumn, header)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("vertex: read %s: %w", uri, err)
		}
		p, err := parseCell(rec[predCol])
		if err != nil {
			return fmt.Errorf("vertex: %s line %d: %w", uri, line, err)
		}
		p.RowKey = rec[keyCol]
		if err := fn(p); err != nil {
			return fmt.Errorf("vertex: %s line %d: %w", uri, line, err)
		}
	}
}

// countRows counts the data rows of an errors file (CSV with a header, or
// JSON lines).
func (b *Backend) countRows(ctx context.Context, bucket, object string) (int64, error) {
	uri := "gs://" + bucket + "/" + object
	r, err := b.cfg.Storage.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return 0, fmt.Errorf("vertex: open %s: %w", uri, err)
	}
	defer r.Close()
	if !strings.HasSuffix(object, ".csv") {
		data, err := io.ReadAll(r)
		if err != nil {
			return 0, fmt.Errorf("vertex: read %s: %w", uri, err)
		}
		var n int64
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) != "" {
				n++
			}
		}
		return n, nil
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var n int64
	for {
		_, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("vertex: read %s: %w", uri, err)
		}
		n++
	}
	return max(n-1, 0), nil
}

// WriteOutput writes online predictions as dir/predictions_<part>.csv in
// the batch layout: the header's columns, then predicted_<Config.Target>.
func (b *Backend) WriteOutput(ctx context.Context, dir string, part int, header []string, rows [][]string, preds []predictor.Prediction) error {
	if part < 1 {
		return fmt.Errorf("vertex: write output: part %d, want >= 1", part)
	}
	if len(rows) != len(preds) {
		return fmt.Errorf("vertex: write output: %d rows but %d predictions", len(rows), len(preds))
	}
	if !slices.Contains(header, schema.RowKeyColumn) {
		return fmt.Errorf("vertex: write output: header lacks the %s column", schema.RowKeyColumn)
	}
	bucket, prefix, err := splitDir(dir)
	if err != nil {
		return err
	}
	records := make([][]string, 0, len(rows)+1)
	records = append(records, append(slices.Clone(header), predictedPrefix+b.cfg.Target))
	for i, row := range rows {
		if len(row) != len(header) {
			return fmt.Errorf("vertex: write output: row %d has %d fields, the header %d", i+1, len(row), len(header))
		}
		cell, err := formatCell(preds[i])
		if err != nil {
			return fmt.Errorf("vertex: write output: row %d: %w", i+1, err)
		}
		records = append(records, append(slices.Clone(row), cell))
	}
	object := prefix + predictionsFile(part)
	w := b.cfg.Storage.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "text/csv"
	if err := csv.NewWriter(w).WriteAll(records); err != nil {
		w.Close()
		return fmt.Errorf("vertex: write gs://%s/%s: %w", bucket, object, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("vertex: write gs://%s/%s: %w", bucket, object, err)
	}
	return nil
}

// splitDir splits gs://bucket/dir into the bucket and the object prefix
// "dir/" (empty for the bucket's root).
func splitDir(dir string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(dir, "gs://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("vertex: %q is not a gs:// directory", dir)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return bucket, prefix, nil
}
