package vertexemu

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"

	"github.com/dropcast/dropcast/shared/gcsuri"
)

// expandURI lists the objects uri names: itself, or every object matching
// it when its object name holds * wildcards (each matching any run of
// characters, / included). It is an error when nothing matches.
func expandURI(ctx context.Context, client *storage.Client, uri string) ([]string, error) {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(object, "*") {
		if _, err := client.Bucket(bucket).Object(object).Attrs(ctx); err != nil {
			return nil, fmt.Errorf("input %s: %w", uri, err)
		}
		return []string{uri}, nil
	}
	_, names, err := gcsuri.Expand(ctx, client, uri)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "gs://" + bucket + "/" + n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("input %s matches no objects", uri)
	}
	return out, nil
}

// readCSV reads a whole CSV object of batch input; rows may have any number
// of fields. It refuses what the documentation rules out for CSV input
// (fixture vertex-csv-input): a column name that begins with an underscore,
// and a string — a non-empty field that is not a number — not enclosed in
// double quotes.
func readCSV(ctx context.Context, client *storage.Client, uri string) ([][]string, error) {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return nil, err
	}
	r, err := client.Bucket(bucket).Object(object).NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", uri, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	lines := [][]byte{} // the raw lines, to see how each field was written
	for l := range bytes.Lines(data) {
		lines = append(lines, l)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var recs [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", uri, err)
		}
		for i, v := range rec {
			line, col := cr.FieldPos(i)
			quoted := line-1 < len(lines) && col-1 < len(lines[line-1]) && lines[line-1][col-1] == '"'
			if len(recs) == 0 && strings.HasPrefix(v, "_") {
				return nil, fmt.Errorf("%s: column name %q begins with an underscore", uri, v)
			}
			if _, num := strconv.ParseFloat(v, 64); v != "" && !quoted && num != nil {
				return nil, fmt.Errorf("%s line %d: field %d, %q, is a string not enclosed in double quotes", uri, line, i+1, v)
			}
		}
		recs = append(recs, rec)
	}
}

// writeCSV writes records as the object uri.
func writeCSV(ctx context.Context, client *storage.Client, uri string, records [][]string) error {
	bucket, object, err := gcsuri.Split(uri)
	if err != nil {
		return err
	}
	w := client.Bucket(bucket).Object(object).NewWriter(ctx)
	w.ContentType = "text/csv"
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(records); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", uri, err)
	}
	return nil
}
