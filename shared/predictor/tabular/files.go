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

// file is a numbered output file.
type file struct {
	name string
	n    int
}

// numbered returns the objects of names directly in prefix named
// <kind><N>.csv, in the order of N. Vertex AI's how-to page names them
// predictions_1.csv while its proto comment says predictions_0001.<extension>
// (fixture vertex-batch-output-files): both read alike.
func numbered(names []string, prefix, kind string) []file {
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
	return files
}

// List lists the predictions files <kind><N>.csv directly in out.Dir, in
// the order of N, and its errors_<N>.csv files. It fails when the directory
// holds neither. With out.Files set it lists predictions files 1 to
// out.Files, and fails when one of them is missing.
func List(ctx context.Context, gcs *storage.Client, out predictor.Output, kind string) (predictor.OutputFiles, error) {
	var files predictor.OutputFiles
	bucket, prefix, err := gcsuri.Split(strings.TrimSuffix(out.Dir, "/") + "/")
	if err != nil {
		return files, fmt.Errorf("list predictions: %w", err)
	}
	names, err := gcsuri.List(ctx, gcs.Bucket(bucket), prefix)
	if err != nil {
		return files, fmt.Errorf("list predictions: %w", err)
	}
	preds, errs := numbered(names, prefix, kind), numbered(names, prefix, ErrorsPrefix)
	if len(preds) == 0 && len(errs) == 0 {
		return files, fmt.Errorf("list predictions: no %sN.csv or %sN.csv in %s", kind, ErrorsPrefix, out.Dir)
	}
	if out.Files > 0 {
		var kept []file
		for _, f := range preds {
			if f.n <= out.Files {
				kept = append(kept, f)
			}
		}
		for i := range out.Files {
			if i >= len(kept) || kept[i].n != i+1 || len(kept) != out.Files {
				return files, fmt.Errorf("list predictions: %s does not hold exactly the files %s1.csv to %s%d.csv", out.Dir, kind, kind, out.Files)
			}
		}
		preds = kept
	}
	for _, f := range preds {
		files.Predictions = append(files.Predictions, "gs://"+bucket+"/"+f.name)
	}
	for _, f := range errs {
		files.Errors = append(files.Errors, "gs://"+bucket+"/"+f.name)
	}
	return files, nil
}

// Reader reads one predictions file, a row at a time.
type Reader struct {
	uri  string
	body io.Closer
	csv  *csv.Reader
	cols *Columns
	row  predictor.Row
}

var _ predictor.OutputReader = (*Reader)(nil)

// Open opens the predictions file uri of out and reads its header.
func Open(ctx context.Context, gcs *storage.Client, out predictor.Output, uri string) (*Reader, error) {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return nil, fmt.Errorf("open predictions: %w", err)
	}
	body, err := gcs.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", uri, err)
	}
	cr := csv.NewReader(body)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("%s: header: %w", uri, err)
	}
	cols, err := Parse(header, out.Input, schema.RowKeyColumn, out.Target)
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	return &Reader{uri: uri, body: body, csv: cr, cols: cols, row: predictor.Row{Input: make([]string, len(out.Input))}}, nil
}

// Classes are the classes of the file's score columns (nil: a regression).
func (r *Reader) Classes() []string { return r.cols.Classes() }

// Next returns the next row, or io.EOF after the last; the Row is reused.
func (r *Reader) Next() (*predictor.Row, error) {
	rec, err := r.csv.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err == nil {
		err = r.cols.Row(rec, &r.row)
	}
	if err != nil {
		line, _ := r.csv.FieldPos(0)
		return nil, fmt.Errorf("%s line %d: %w", r.uri, line, err)
	}
	return &r.row, nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.body.Close() }

// CountRows counts the records (after the header) of the CSV object uri.
func CountRows(ctx context.Context, gcs *storage.Client, uri string) (int64, error) {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return 0, fmt.Errorf("count rows: %w", err)
	}
	var n int64
	err = eachRecord(ctx, gcs.Bucket(bucket).Object(object), func(_, _ []string) error {
		n++
		return nil
	})
	return n, err
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
