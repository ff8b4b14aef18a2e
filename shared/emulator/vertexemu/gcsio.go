package vertexemu

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// splitGCS splits gs://bucket/object into bucket and object.
func splitGCS(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("invalid Cloud Storage URI %q: want gs://BUCKET/OBJECT", uri)
	}
	return bucket, object, nil
}

// expandURI lists the objects uri names: itself, or every object matching
// it when its object name holds * wildcards (each matching any run of
// characters, / included). It is an error when nothing matches.
func expandURI(ctx context.Context, client *storage.Client, uri string) ([]string, error) {
	bucket, object, err := splitGCS(uri)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(object, "*") {
		if _, err := client.Bucket(bucket).Object(object).Attrs(ctx); err != nil {
			return nil, fmt.Errorf("input %s: %w", uri, err)
		}
		return []string{uri}, nil
	}
	prefix, _, _ := strings.Cut(object, "*")
	parts := strings.Split(object, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	re := regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	var out []string
	it := client.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", uri, err)
		}
		if re.MatchString(attrs.Name) {
			out = append(out, "gs://"+bucket+"/"+attrs.Name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("input %s matches no objects", uri)
	}
	return out, nil
}

// readCSV reads a whole CSV object; rows may have any number of fields.
func readCSV(ctx context.Context, client *storage.Client, uri string) ([][]string, error) {
	bucket, object, err := splitGCS(uri)
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
	bucket, object, err := splitGCS(uri)
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
