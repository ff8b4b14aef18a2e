// Package clean is preprocess's streaming CSV cleaner: it reads a source CSV
// (UTF-8 or Shift_JIS, optionally gzip) in constant memory, checks and
// normalises every value against a schema.Schema, and writes a clean CSV in
// BigQuery's canonical text plus a CSV of rejected rows. Work can be split
// into segments that resume from a Checkpoint.
//
// Output contract: the clean CSV has a header of the spec's column names and
// schema.RowKeyColumn, then one line per good row ("," separated, "\n" line
// ends, every non-empty field in double quotes, NULL as an empty field); the
// row key is the source line of the record's first line (the header is line
// 1). Predict sends clean parts to the model service as they are, and Vertex
// AI asks that CSV input "enclose all strings in double quotation marks"
// (fixture vertex-csv-input); BigQuery loads quoted fields of any type. The rejects CSV has
// the header "line,column,reason,record" and one line per problem found (a
// row with two bad values gives two lines); record is the row's text decoded
// to UTF-8. Clean STRING values may hold quoted newlines, so loads must allow
// quoted newlines.
//
// Policies: a header-only file passes with no rows; blank lines are skipped
// (they still count as lines); a row with invalid UTF-8, a NUL byte, a field
// over input.max_field_bytes, a record over input.max_record_bytes, the wrong
// number of fields, or text after a closing quote is rejected; a record whose
// quote never closes runs to the end of the file and is rejected as
// "unterminated quoted field", every line it swallowed counting as a rejected
// row; a header that is not valid UTF-8 or never closes its quote, an empty
// file, UTF-16 or ZIP data, a truncated gzip stream and header problems fail
// the whole file with a *FileError.
package clean

import (
	"errors"
	"fmt"

	"github.com/dropcast/dropcast/shared/schema"
)

// DefaultStopEvery is how many records Segment reads between calls of stop.
const DefaultStopEvery = 1024

// readBuffer is the scanner's initial buffer size.
const readBuffer = 256 << 10

// Cleaner cleans files of one schema. It is immutable and safe for
// concurrent use; each Segment call has its own state.
type Cleaner struct {
	schema        *schema.Schema
	file          string
	rules         []*schema.Rule
	names         []string        // column names
	keys          map[string]int  // header key -> column index
	drop          map[string]bool // header keys dropped silently
	ignoreUnknown bool
	header        bool
	delim, quote  byte
	sjis          bool
	maxField      int
	maxRecord     int
	outHeader     []byte
	// StopEvery is how many records Segment reads between calls of stop and
	// checks of its context (DefaultStopEvery when 0).
	StopEvery int
}

// New compiles s for cleaning the file named file (the name is used in errors
// and to recognise ".gz"). It fails when s has problems.
func New(s *schema.Schema, file string) (*Cleaner, error) {
	if ps := s.Validate(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = p
		}
		return nil, fmt.Errorf("invalid schema: %w", errors.Join(errs...))
	}
	c := &Cleaner{
		schema: s, file: file,
		keys: map[string]int{}, drop: map[string]bool{},
		ignoreUnknown: s.UnknownColumns == schema.UnknownIgnore,
		header:        s.Input.HasHeader(),
		delim:         s.Input.DelimiterByte(), quote: s.Input.QuoteByte(),
		sjis:     s.Input.EncodingName() == schema.EncodingShiftJIS,
		maxField: s.Input.FieldLimit(), maxRecord: s.Input.RecordLimit(),
	}
	for i, col := range s.Columns {
		r, ps := col.Compile()
		if ps != nil {
			return nil, fmt.Errorf("invalid schema: columns[%d]: %v", i, ps[0])
		}
		c.rules = append(c.rules, r)
		c.names = append(c.names, col.Name)
		c.keys[schema.HeaderKey(col.Name)] = i
		for _, a := range col.Aliases {
			c.keys[schema.HeaderKey(a)] = i
		}
		c.outHeader = appendQuoted(c.outHeader, []byte(col.Name))
		c.outHeader = append(c.outHeader, ',')
	}
	c.outHeader = appendQuoted(c.outHeader, []byte(schema.RowKeyColumn))
	c.outHeader = append(c.outHeader, '\n')
	for _, d := range s.Drop {
		c.drop[schema.HeaderKey(d)] = true
	}
	return c, nil
}

// CheckThreshold returns a *ThresholdError when cp's rejects exceed the
// spec's reject_threshold, or when a finished file had rows and every one
// was rejected.
func (c *Cleaner) CheckThreshold(cp Checkpoint) error {
	t := c.schema.Rejects
	over := t.MaxRows > 0 && cp.RowsRejected > t.MaxRows ||
		t.MaxRatio > 0 && float64(cp.RowsRejected) > t.MaxRatio*float64(cp.RowsIn) ||
		cp.Done && cp.RowsRejected > 0 && cp.RowsClean == 0
	if !over {
		return nil
	}
	return &ThresholdError{File: c.file, Rows: cp.RowsIn, Rejected: cp.RowsRejected, MaxRows: t.MaxRows, MaxRatio: t.MaxRatio}
}
