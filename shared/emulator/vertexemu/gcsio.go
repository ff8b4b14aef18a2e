package vertexemu

import (
	"context"
	"encoding/csv"
	"fmt"
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

// readCSV reads a whole CSV object; rows may have any number of fields.
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
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	return recs, nil
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
