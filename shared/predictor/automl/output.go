package automl

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/gcsuri"
	"github.com/dropcast/dropcast/shared/predictor"
	"github.com/dropcast/dropcast/shared/schema"
	"google.golang.org/api/iterator"
)

// The AutoML Tables classification output layout, in a directory:
//   tables_N.csv: the input columns, then one <target>_<class>_score column per class;
//   errors_N.csv: the input columns, then errors_<target> (the row's error).

func scoreColumn(target, class string) string { return target + "_" + class + "_score" }

func errorsColumn(target string) string { return "errors_" + target }

// ReadOutput calls fn for each row of dir's tables_N.csv files (in N order):
// Label and Score are the top class, Scores every class, RowKey the _row
// column. It returns how many rows dir's errors_N.csv files hold.
func (b *Backend) ReadOutput(ctx context.Context, dir string, fn func(predictor.Prediction) error) (int64, error) {
	bucket, prefix, err := gcsuri.Split(strings.TrimRight(dir, "/") + "/")
	if err != nil {
		return 0, fmt.Errorf("automl: read output: %w", err)
	}
	tables, errs, err := b.outputFiles(ctx, bucket, prefix)
	if err != nil {
		return 0, err
	}
	if len(tables) == 0 {
		return 0, fmt.Errorf("automl: read output: no tables_*.csv in %s", dir)
	}
	for _, obj := range tables {
		if err := b.readTables(ctx, bucket, obj, fn); err != nil {
			return 0, err
		}
	}
	var errorRows int64
	for _, obj := range errs {
		err := eachRecord(ctx, b.cfg.Storage.Bucket(bucket).Object(obj), func(_, _ []string) error {
			errorRows++
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return errorRows, nil
}

// outputFiles lists the tables_N.csv and errors_N.csv objects directly in prefix, by N.
func (b *Backend) outputFiles(ctx context.Context, bucket, prefix string) (tables, errs []string, err error) {
	type file struct {
		name string
		n    int
	}
	var ts, es []file
	it := b.cfg.Storage.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("automl: list gs://%s/%s: %w", bucket, prefix, err)
		}
		base := path.Base(a.Name)
		for kind, list := range map[string]*[]file{"tables_": &ts, "errors_": &es} {
			num, ok := strings.CutPrefix(base, kind)
			num, ok2 := strings.CutSuffix(num, ".csv")
			if n, err := strconv.Atoi(num); ok && ok2 && err == nil && a.Prefix == "" {
				*list = append(*list, file{a.Name, n})
			}
		}
	}
	names := func(fs []file) []string {
		sort.Slice(fs, func(i, j int) bool { return fs[i].n < fs[j].n })
		out := make([]string, len(fs))
		for i, f := range fs {
			out[i] = f.name
		}
		return out
	}
	return names(ts), names(es), nil
}

// readTables reads one tables_N.csv file.
func (b *Backend) readTables(ctx context.Context, bucket, object string, fn func(predictor.Prediction) error) error {
	var (
		keyCol  int
		classes []string
		cols    []int
	)
	return eachRecord(ctx, b.cfg.Storage.Bucket(bucket).Object(object), func(header, rec []string) error {
		if cols == nil {
			target := b.cfg.Target
			if target == "" {
				target = inferTarget(header)
			}
			for i, h := range header {
				class, ok := strings.CutPrefix(h, target+"_")
				class, ok2 := strings.CutSuffix(class, "_score")
				if target != "" && ok && ok2 && class != "" {
					classes, cols = append(classes, class), append(cols, i)
				}
			}
			if len(cols) == 0 {
				return fmt.Errorf("no %s columns in header %v", scoreColumn(target, "<class>"), header)
			}
			keyCol = slices.Index(header, schema.RowKeyColumn)
		}
		if len(rec) != len(header) {
			return fmt.Errorf("record has %d values, header has %d", len(rec), len(header))
		}
		p := predictor.Prediction{Scores: make(map[string]float64, len(classes))}
		if keyCol >= 0 {
			p.RowKey = rec[keyCol]
		}
		for i, c := range cols {
			v, err := strconv.ParseFloat(rec[c], 64)
			if err != nil {
				return fmt.Errorf("row %s: column %s: %w", p.RowKey, header[c], err)
			}
			p.Scores[classes[i]] = v
			if p.Label == "" || v > p.Score {
				p.Label, p.Score = classes[i], v
			}
		}
		return fn(p)
	})
}

// inferTarget finds <target> from the trailing run of *_score columns: the
// longest common prefix of their names, cut after its last "_". Config.Target
// avoids the guess (needed when class names share an "_"-separated prefix).
func inferTarget(header []string) string {
	var scores []string
	for i := len(header) - 1; i >= 0 && strings.HasSuffix(header[i], "_score"); i-- {
		scores = append(scores, header[i])
	}
	if len(scores) == 0 {
		return ""
	}
	if len(scores) < 2 {
		return ""
	}
	common := scores[0]
	for _, s := range scores[1:] {
		for !strings.HasPrefix(s, common) {
			common = common[:len(common)-1]
		}
	}
	i := strings.LastIndex(common, "_")
	if i <= 0 {
		return ""
	}
	return common[:i]
}

// eachRecord calls fn with the header and each record of a CSV object.
func eachRecord(ctx context.Context, h *storage.ObjectHandle, fn func(header, rec []string) error) error {
	r, err := h.NewReader(ctx)
	if err != nil {
		return fmt.Errorf("automl: open gs://%s/%s: %w", h.BucketName(), h.ObjectName(), err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // errors files may hold ragged input rows
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("automl: gs://%s/%s: header: %w", h.BucketName(), h.ObjectName(), err)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = fn(header, rec)
		}
		if err != nil {
			return fmt.Errorf("automl: gs://%s/%s: %w", h.BucketName(), h.ObjectName(), err)
		}
	}
}

// WriteOutput writes online predictions as dir/tables_<part>.csv (rows plus
// one score column per class, classes sorted) and an empty
// dir/errors_<part>.csv, the layout of a batch job, so ReadOutput reads both.
func (b *Backend) WriteOutput(ctx context.Context, dir string, part int, header []string, rows [][]string, preds []predictor.Prediction) error {
	if len(rows) != len(preds) {
		return fmt.Errorf("automl: write output: %d rows but %d predictions", len(rows), len(preds))
	}
	target := b.cfg.Target
	if target == "" {
		b.mu.Lock()
		target = b.target
		b.mu.Unlock()
	}
	if target == "" {
		return errors.New("automl: write output: target unknown (set Config.Target or Predict first)")
	}
	var classes []string
	for _, p := range preds {
		for c := range p.Scores {
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
	}
	slices.Sort(classes)
	outHeader := slices.Clone(header)
	for _, c := range classes {
		outHeader = append(outHeader, scoreColumn(target, c))
	}
	out := make([][]string, len(rows))
	for i, r := range rows {
		if len(r) != len(header) {
			return fmt.Errorf("automl: write output: row %d has %d values, header has %d", i, len(r), len(header))
		}
		rec := slices.Clone(r)
		for _, c := range classes {
			s, ok := preds[i].Scores[c]
			if !ok {
				return fmt.Errorf("automl: write output: row %d has no score for class %q", i, c)
			}
			rec = append(rec, strconv.FormatFloat(s, 'g', -1, 64))
		}
		out[i] = rec
	}
	dir = strings.TrimRight(dir, "/")
	if err := b.writeCSV(ctx, fmt.Sprintf("%s/tables_%d.csv", dir, part), outHeader, out); err != nil {
		return err
	}
	return b.writeCSV(ctx, fmt.Sprintf("%s/errors_%d.csv", dir, part), append(slices.Clone(header), errorsColumn(target)), nil)
}

func (b *Backend) writeCSV(ctx context.Context, uri string, header []string, rows [][]string) error {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return fmt.Errorf("automl: write output: %w", err)
	}
	w := b.cfg.Storage.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "text/csv"
	cw := csv.NewWriter(w)
	err = cw.Write(header)
	if err == nil {
		err = cw.WriteAll(rows)
	}
	if err != nil {
		w.Close()
		return fmt.Errorf("automl: write %s: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("automl: write %s: %w", uri, err)
	}
	return nil
}
