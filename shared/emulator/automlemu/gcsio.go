package automlemu

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// splitGCS splits gs://bucket/object.
func splitGCS(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("%q is not a gs:// URI", uri)
	}
	return bucket, object, nil
}

// expand lists the objects a URI names; "*" in the object name matches any
// characters (including "/"), and a URI with a wildcard may match nothing.
func expand(ctx context.Context, c *storage.Client, uri string) (bucket string, objects []string, err error) {
	bucket, object, err := splitGCS(uri)
	if err != nil {
		return "", nil, err
	}
	if !strings.Contains(object, "*") {
		return bucket, []string{object}, nil
	}
	parts := strings.Split(object, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	it := c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: wildcardPrefix(object)})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return "", nil, fmt.Errorf("list %s: %w", uri, err)
		}
		if re.MatchString(a.Name) {
			objects = append(objects, a.Name)
		}
	}
	slices.Sort(objects)
	return bucket, objects, nil
}

// wildcardPrefix is the object name up to its first wildcard.
func wildcardPrefix(object string) string {
	before, _, _ := strings.Cut(object, "*")
	return before
}

// readInputs reads CSV files with a header row each; all headers must match.
func readInputs(ctx context.Context, c *storage.Client, uris []string) (header []string, rows [][]string, err error) {
	for _, uri := range uris {
		bucket, objects, err := expand(ctx, c, uri)
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
	bucket, object, err := splitGCS(uri)
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
