package clean

import (
	"fmt"
	"strings"
)

// FileError is a problem that fails a whole file: nothing of it should be loaded.
type FileError struct {
	File   string
	Line   int64  // source line, 0 when not tied to one
	Column string // the column concerned, if any
	Reason string
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// ThresholdError says a file has more rejected rows than its spec tolerates.
type ThresholdError struct {
	File     string
	Rows     int64 // data rows read so far
	Rejected int64
	MaxRows  int64   // the spec's limit, 0 when unset
	MaxRatio float64 // the spec's limit, 0 when unset
}

func (e *ThresholdError) Error() string {
	pct := 0.0
	if e.Rows > 0 {
		pct = 100 * float64(e.Rejected) / float64(e.Rows)
	}
	limit := "every row was rejected"
	switch {
	case e.MaxRows > 0 && e.Rejected > e.MaxRows:
		limit = fmt.Sprintf("over reject_threshold.max_rows %d", e.MaxRows)
	case e.MaxRatio > 0 && float64(e.Rejected) > e.MaxRatio*float64(e.Rows):
		limit = fmt.Sprintf("over reject_threshold.max_ratio %g", e.MaxRatio)
	}
	return fmt.Sprintf("%s: %d of %d rows rejected (%.2f%%), %s", e.File, e.Rejected, e.Rows, pct, limit)
}
