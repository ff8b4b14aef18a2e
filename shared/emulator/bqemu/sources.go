package bqemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// sourceFile is one load-job input read from Cloud Storage.
type sourceFile struct {
	uri  string
	data []byte
}

// readSources expands and reads gs:// URIs in order; a URI may carry one
// '*' wildcard in its object name and must match at least one object.
func readSources(ctx context.Context, client *storage.Client, uris []string) ([]sourceFile, error) {
	if client == nil {
		return nil, errUnsupported("load from %v: the emulator was started without Options.Storage", uris)
	}
	var out []sourceFile
	for _, uri := range uris {
		bucket, object, ok := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
		if !strings.HasPrefix(uri, "gs://") || !ok || bucket == "" || object == "" {
			return nil, errInvalid("Invalid source URI: %s. Source URIs must be of the form gs://bucket/object", uri)
		}
		// "Each URI can contain one '*' wildcard character and it must come
		// after the 'bucket' name." (JobConfigurationLoad.sourceUris)
		if strings.Contains(bucket, "*") {
			return nil, errInvalid("Invalid source URI: %s. The wildcard must come after the bucket name", uri)
		}
		if strings.Count(object, "*") > 1 {
			return nil, errInvalid("Invalid source URI: %s. Only one wildcard is allowed", uri)
		}
		names := []string{object}
		if strings.Contains(object, "*") {
			var err error
			if names, err = matchObjects(ctx, client, bucket, object); err != nil {
				return nil, fmt.Errorf("expand %s: %w", uri, err)
			}
			if len(names) == 0 {
				return nil, errNotFound("URI %s", uri)
			}
		}
		for _, name := range names {
			data, err := readObject(ctx, client, bucket, name)
			if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
				return nil, errNotFound("URI gs://%s/%s", bucket, name)
			}
			if err != nil {
				return nil, fmt.Errorf("read gs://%s/%s: %w", bucket, name, err)
			}
			out = append(out, sourceFile{uri: "gs://" + bucket + "/" + name, data: data})
		}
	}
	return out, nil
}

// matchObjects lists the objects matching a pattern with one '*', in name
// order.
func matchObjects(ctx context.Context, client *storage.Client, bucket, pattern string) ([]string, error) {
	prefix, suffix, _ := strings.Cut(pattern, "*")
	it := client.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	var names []string
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names, nil
		}
		if errors.Is(err, storage.ErrBucketNotExist) {
			return nil, errNotFound("URI gs://%s/%s", bucket, pattern)
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", bucket, prefix, err)
		}
		if strings.HasSuffix(attrs.Name, suffix) && len(attrs.Name) >= len(prefix)+len(suffix) {
			names = append(names, attrs.Name)
		}
	}
}

func readObject(ctx context.Context, client *storage.Client, bucket, name string) ([]byte, error) {
	r, err := client.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return data, nil
}
