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

// readInputs reads CSV files with a header row each; all headers must match.
func readInputs(ctx context.Context, c *storage.Client, uris []string) (header []string, rows [][]string, err error) {
	for _, uri := range uris {
		bucket, objects, err := gcsuri.Expand(ctx, c, uri)
		if err != nil {
			return nil, nil, err
		}
		for _, obj := range objects {
			h, rs, err := readCSV(ctx, c, bucket, obj)
			if err != nil {
				return nil, nil, err
			}
			if header == nil {
				header = h
			} else if !slices.Equal(header, h) {
				return nil, nil, fmt.Errorf("gs://%s/%s: header %v differs from %v", bucket, obj, h, header)
			}
			rows = append(rows, rs...)
		}
	}
	if header == nil {
		return nil, nil, fmt.Errorf("no input files match %v", uris)
	}
	return header, rows, nil
}

func readCSV(ctx context.Context, c *storage.Client, bucket, object string) (header []string, rows [][]string, err error) {
	r, err := c.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("open gs://%s/%s: %w", bucket, object, err)
	}
	defer r.Close()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a ragged row becomes an error row, not a failed job
	header, err = cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("gs://%s/%s: read header: %w", bucket, object, err)
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return header, rows, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("gs://%s/%s: %w", bucket, object, err)
		}
		rows = append(rows, rec)
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
