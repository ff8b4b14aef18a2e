package automl

import (
	"fmt"
	"strings"
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

// hasDirPrefix reports whether dir is prefix or below it.
func hasDirPrefix(dir, prefix string) bool {
	prefix = strings.TrimRight(prefix, "/")
	return dir == prefix || strings.HasPrefix(dir, prefix+"/")
}
