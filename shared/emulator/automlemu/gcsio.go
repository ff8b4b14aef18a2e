package automlemu

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/gcsuri"
)

// readInputs reads CSV files named by full object path, as io.proto
// documents the Tables GCS input: "first file must have a header containing
// column names. If the first row of a subsequent file is the same as the
// header, then it is also treated as a header. All other rows contain values
// for the corresponding columns."
func readInputs(ctx context.Context, c *storage.Client, uris []string) (header []string, rows [][]string, err error) {
	for _, uri := range uris {
		bucket, object, err := gcsuri.Split(uri)
		if err != nil {
			return nil, nil, err
		}
		recs, err := readCSV(ctx, c, bucket, object)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) > 0 && (header == nil || slices.Equal(recs[0], header)) {
			if header == nil {
				header = recs[0]
			}
			recs = recs[1:]
		}
		rows = append(rows, recs...)
	}
	if header == nil {
		return nil, nil, fmt.Errorf("the first input file %s has no header", uris[0])
	}
	return header, rows, nil
}

// readCSV reads every record of a CSV object.
func readCSV(ctx context.Context, c *storage.Client, bucket, object string) ([][]string, error) {
	r, err := c.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("open gs://%s/%s: %w", bucket, object, err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a ragged row becomes an error row, not a failed job
	var recs [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("gs://%s/%s: %w", bucket, object, err)
		}
		recs = append(recs, rec)
	}
}

// writeCSV writes a header and rows to a gs:// URI.
func writeCSV(ctx context.Context, c *storage.Client, uri string, header []string, rows [][]string) error {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return err
	}
	w := c.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "text/csv"
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", uri, err)
	}
	if err := cw.WriteAll(rows); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	return nil
}
