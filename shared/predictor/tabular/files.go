package tabular

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
)

// ErrorsPrefix names the errors files of both services: errors_1.csv, ...
const ErrorsPrefix = "errors_"

// numbered returns the objects of names directly in prefix named
// <kind><N>.csv, in the order of N. Vertex AI's how-to page names them
// predictions_1.csv while its proto comment says predictions_0001.<extension>
// (fixture vertex-batch-output-files): both read alike.
func numbered(names []string, prefix, kind string) []string {
	type file struct {
		name string
		n    int
	}
	var files []file
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		num, ok2 := strings.CutSuffix(strings.TrimPrefix(rest, kind), ".csv")
		n, err := strconv.Atoi(num)
		if ok && ok2 && err == nil && n > 0 && strings.HasPrefix(rest, kind) && !strings.Contains(rest, "/") {
			files = append(files, file{name, n})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.n, b.n) })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.name
	}
	return out
}

// Read reads the predictions files <kind><N>.csv directly in out.Dir, in the
// order of N, calling fn per prediction, and returns how many rows the
// errors_<N>.csv files hold. It fails when the directory holds neither.
func Read(ctx context.Context, gcs *storage.Client, out predictor.Output, kind string, fn func(predictor.Prediction) error) (int64, error) {
	bucket, prefix, err := gcsuri.Split(strings.TrimSuffix(out.Dir, "/") + "/")
	if err != nil {
		return 0, fmt.Errorf("read predictions: %w", err)
	}
	names, err := gcsuri.List(ctx, gcs.Bucket(bucket), prefix)
	if err != nil {
		return 0, fmt.Errorf("read predictions: %w", err)
	}
	preds, errs := numbered(names, prefix, kind), numbered(names, prefix, ErrorsPrefix)
	if len(preds) == 0 && len(errs) == 0 {
		return 0, fmt.Errorf("read predictions: no %sN.csv or %sN.csv in %s", kind, ErrorsPrefix, out.Dir)
	}
	for _, obj := range preds {
		var cols *Columns
		err := eachRecord(ctx, gcs.Bucket(bucket).Object(obj), func(header, rec []string) error {
			if cols == nil {
				var err error
				if cols, err = Parse(header, out.Input, schema.RowKeyColumn, out.Target); err != nil {
					return err
				}
			}
			if len(rec) != len(header) {
				return fmt.Errorf("record has %d fields, the header %d", len(rec), len(header))
			}
			p, err := cols.Prediction(rec)
			if err != nil {
				return err
			}
			return fn(p)
		})
		if err != nil {
			return 0, err
		}
	}
	var errorRows int64
	for _, obj := range errs {
		err := eachRecord(ctx, gcs.Bucket(bucket).Object(obj), func(_, _ []string) error {
			errorRows++
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return errorRows, nil
}

// eachRecord calls fn with the header and each record of a CSV object,
// naming the object and line in its errors.
func eachRecord(ctx context.Context, h *storage.ObjectHandle, fn func(header, rec []string) error) error {
	uri := "gs://" + h.BucketName() + "/" + h.ObjectName()
	r, err := h.NewReader(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", uri, err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // errors files may hold ragged input rows
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header: %w", uri, err)
	}
	header = slices.Clone(header)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = fn(header, rec)
		}
		if err != nil {
			line, _ := cr.FieldPos(0)
			return fmt.Errorf("%s line %d: %w", uri, line, err)
		}
	}
}

// Write writes rows as the predictions file uri: header, then one record
// per row with its prediction, in the layout of w.
func (w *Writer) Write(ctx context.Context, gcs *storage.Client, uri string, header []string, rows [][]string, preds []predictor.Prediction) error {
	if len(rows) != len(preds) {
		return fmt.Errorf("write %s: %d rows but %d predictions", uri, len(rows), len(preds))
	}
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return fmt.Errorf("write predictions: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the object on an early return
	ow := gcs.Bucket(bucket).Object(object).NewWriter(ctx)
	ow.ContentType = "text/csv"
	cw := csv.NewWriter(ow)
	if err := cw.Write(w.Header(header)); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	for i, row := range rows {
		if len(row) != len(header) {
			return fmt.Errorf("write %s: row %d has %d fields, the header %d", uri, i+1, len(row), len(header))
		}
		rec, err := w.Row(row, preds[i])
		if err != nil {
			return fmt.Errorf("write %s: row %d: %w", uri, i+1, err)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write %s: %w", uri, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	if err := ow.Close(); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	return nil
}
