// Package gcsuri parses gs://BUCKET/OBJECT addresses and expands the "*"
// wildcards batch prediction inputs use.
package gcsuri

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Split splits gs://bucket/object (the object may be empty or a prefix).
func Split(uri string) (bucket, object string, err error) {
	rest, ok := strings.CutPrefix(uri, "gs://")
	bucket, object, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("%q is not a Cloud Storage URI: want gs://BUCKET/OBJECT", uri)
	}
	return bucket, object, nil
}

// List returns the names of the objects under prefix in b, in name order.
func List(ctx context.Context, b *storage.BucketHandle, prefix string) ([]string, error) {
	var names []string
	it := b.Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", b.BucketName(), prefix, err)
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names, nil
}

// Expand lists the object names uri names, in name order: its own object when
// it has no wildcard, otherwise every object matching it, where each "*"
// matches any run of characters, "/" included. A wildcard may match nothing.
func Expand(ctx context.Context, c *storage.Client, uri string) (bucket string, objects []string, err error) {
	bucket, object, err := Split(uri)
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
	names, err := List(ctx, c.Bucket(bucket), parts0(object))
	if err != nil {
		return "", nil, err
	}
	for _, n := range names {
		if re.MatchString(n) {
			objects = append(objects, n)
		}
	}
	return bucket, objects, nil
}

// parts0 is the object name up to its first wildcard: the listing prefix.
func parts0(object string) string {
	before, _, _ := strings.Cut(object, "*")
	return before
}
