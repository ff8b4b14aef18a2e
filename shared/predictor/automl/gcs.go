package automl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/automl/apiv1beta1/automlpb"
	"cloud.google.com/go/storage"
	"github.com/dropcast/dropcast/shared/gcsuri"
)

// The documented limits of a Tables batch input from Cloud Storage (io.proto,
// GcsSource and BatchPredictInputConfig): URIs "up to 2000 characters long";
// "CSV file(s), each by itself 10GB or smaller and total size must be 100GB or
// smaller". GB is read as 10^9 bytes, the smaller reading.
const (
	maxInputURILength = 2000
	maxInputFileBytes = 10_000_000_000
	maxInputBytes     = 100_000_000_000
)

// inputObject is one input file: its full object path and size.
type inputObject struct {
	uri  string
	size int64
}

// resolveInput returns in with its Cloud Storage URIs as the service accepts
// them: GcsSource.input_uris takes only full object paths ("Accepted forms:
// * Full object path, e.g. gs://bucket/directory/object.csv"), so a "*"
// wildcard is expanded here into the objects it matches, in name order. Every
// object must exist and the sizes must keep to the documented limits. A
// BigQuery input is returned as it is.
func (b *Backend) resolveInput(ctx context.Context, in *automlpb.BatchPredictInputConfig) (*automlpb.BatchPredictInputConfig, error) {
	uris := in.GetGcsSource().GetInputUris()
	if len(uris) == 0 {
		return in, nil
	}
	var objects []inputObject
	seen := map[string]bool{}
	for _, uri := range uris {
		if len(uri) > maxInputURILength {
			return nil, fmt.Errorf("input %.60s... is %d characters long; AutoML takes at most %d", uri, len(uri), maxInputURILength)
		}
		bucket, names, err := gcsuri.Expand(ctx, b.cfg.Storage, uri)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", uri, err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("input %s matches no object", uri)
		}
		for _, name := range names {
			full := "gs://" + bucket + "/" + name
			if seen[full] {
				continue
			}
			seen[full] = true
			if strings.HasSuffix(name, "/") || name == "" {
				return nil, fmt.Errorf("input %s is not a full object path", full)
			}
			if len(full) > maxInputURILength {
				return nil, fmt.Errorf("input %.60s... is %d characters long; AutoML takes at most %d", full, len(full), maxInputURILength)
			}
			a, err := b.cfg.Storage.Bucket(bucket).Object(name).Attrs(ctx)
			if errors.Is(err, storage.ErrObjectNotExist) {
				return nil, fmt.Errorf("input %s does not exist: %w", full, err)
			}
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", full, err)
			}
			objects = append(objects, inputObject{uri: full, size: a.Size})
		}
	}
	if err := checkInputSizes(objects); err != nil {
		return nil, err
	}
	full := make([]string, len(objects))
	for i, o := range objects {
		full[i] = o.uri
	}
	return &automlpb.BatchPredictInputConfig{Source: &automlpb.BatchPredictInputConfig_GcsSource{GcsSource: &automlpb.GcsSource{InputUris: full}}}, nil
}

// checkInputSizes enforces the documented size limits of the input files.
func checkInputSizes(objects []inputObject) error {
	var total int64
	for _, o := range objects {
		if o.size > maxInputFileBytes {
			return fmt.Errorf("input %s is %d bytes; AutoML takes files of at most 10GB (%d bytes)", o.uri, o.size, int64(maxInputFileBytes))
		}
		total += o.size
	}
	if total > maxInputBytes {
		return fmt.Errorf("the %d input files hold %d bytes; AutoML takes at most 100GB (%d bytes) in total", len(objects), total, int64(maxInputBytes))
	}
	return nil
}

// hasDirPrefix reports whether dir is prefix or below it.
func hasDirPrefix(dir, prefix string) bool {
	prefix = strings.TrimRight(prefix, "/")
	return dir == prefix || strings.HasPrefix(dir, prefix+"/")
}
