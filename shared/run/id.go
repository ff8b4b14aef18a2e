package run

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// ID derives a run's ID from its source object: the same (bucket, object,
// generation) always gives the same ID, so a duplicated event finds its run.
// The ID is readable (pipeline and file name) and safe in task names.
func ID(pipeline string, src Source) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d", src.Bucket, src.Object, src.Generation))
	base := path.Base(src.Object)
	for _, ext := range []string{".gz", ".csv"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = unsafeChars.ReplaceAllString(base, "-")
	if len(base) > 60 {
		base = base[:60]
	}
	return pipeline + "-" + strings.Trim(base, "-") + "-" + hex.EncodeToString(sum[:5])
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

var idRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}-[A-Za-z0-9-]{0,60}-[0-9a-f]{10}$`)

// ValidID reports whether id has the shape ID produces (and so is safe in
// object names and task names).
func ValidID(id string) bool { return idRE.MatchString(id) }
