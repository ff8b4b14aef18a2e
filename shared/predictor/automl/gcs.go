package automl

import (
	"strings"
)

// hasDirPrefix reports whether dir is prefix or below it.
func hasDirPrefix(dir, prefix string) bool {
	prefix = strings.TrimRight(prefix, "/")
	return dir == prefix || strings.HasPrefix(dir, prefix+"/")
}
