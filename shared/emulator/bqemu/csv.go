package bqemu

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// csvDialect holds the load options that shape CSV parsing.
type csvDialect struct {
	delimiter           string
	quote               byte // 0 disables quoting
	allowQuotedNewlines bool
}

// csvRecord is one parsed row and the byte offset where it starts; quoted
// says which fields were enclosed in quotes.
type csvRecord struct {
	fields []string
	quoted []bool
	offset int64
}

// csvReader parses CSV the way BigQuery's loader does: a configurable
// delimiter (one or more bytes) and quote character, doubled quotes inside
// quoted fields, and quoted newlines only when allowed.
type csvReader struct {
	data []byte
	pos  int
	d    csvDialect
}

// csvRowError is a malformed row; the reader has already skipped past it.
type csvRowError struct {
	offset int64
	msg    string
}

func (e *csvRowError) Error() string {
	return fmt.Sprintf("Error detected while parsing row starting at position: %d. Error: %s", e.offset, e.msg)
}

func newCSVReader(data []byte, d csvDialect) *csvReader {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	return &csvReader{data: data, d: d}
}

// next returns the next non-empty record, io.EOF at the end, or a
// *csvRowError for a malformed row.
func (r *csvReader) next() (csvRecord, error) {
	for r.pos < len(r.data) && (r.data[r.pos] == '\n' || r.data[r.pos] == '\r') {
		r.pos++
	}
	if r.pos >= len(r.data) {
		return csvRecord{}, io.EOF
	}
	rec := csvRecord{offset: int64(r.pos)}
	for {
		quoted := r.d.quote != 0 && r.pos < len(r.data) && r.data[r.pos] == r.d.quote
		field, end, err := r.field(rec.offset)
		if err != nil {
			r.skipLine()
			return csvRecord{}, err
		}
		rec.fields = append(rec.fields, field)
		rec.quoted = append(rec.quoted, quoted)
		if end {
			return rec, nil
		}
	}
}

// field reads one field and reports whether it ended the record.
func (r *csvReader) field(rowStart int64) (string, bool, error) {
	if r.d.quote != 0 && r.pos < len(r.data) && r.data[r.pos] == r.d.quote {
		return r.quotedField(rowStart)
	}
	start := r.pos
	for r.pos < len(r.data) {
		if r.atDelimiter() {
			f := string(r.data[start:r.pos])
			r.pos += len(r.d.delimiter)
			return f, false, nil
		}
		if c := r.data[r.pos]; c == '\n' || c == '\r' {
			f := string(r.data[start:r.pos])
			r.endLine()
			return f, true, nil
		}
		r.pos++
	}
	return string(r.data[start:]), true, nil
}

func (r *csvReader) quotedField(rowStart int64) (string, bool, error) {
	q := r.d.quote
	r.pos++
	var b strings.Builder
	for {
		if r.pos >= len(r.data) {
			return "", false, &csvRowError{offset: rowStart, msg: fmt.Sprintf("Missing close double quote (%c) character.", q)}
		}
		c := r.data[r.pos]
		switch {
		case c == q && r.pos+1 < len(r.data) && r.data[r.pos+1] == q:
			b.WriteByte(q)
			r.pos += 2
		case c == q:
			r.pos++
			switch {
			case r.pos >= len(r.data):
				return b.String(), true, nil
			case r.atDelimiter():
				r.pos += len(r.d.delimiter)
				return b.String(), false, nil
			case r.data[r.pos] == '\n' || r.data[r.pos] == '\r':
				r.endLine()
				return b.String(), true, nil
			default:
				return "", false, &csvRowError{offset: rowStart, msg: fmt.Sprintf("Data between close double quote (%c) and field separator.", q)}
			}
		case (c == '\n' || c == '\r') && !r.d.allowQuotedNewlines:
			return "", false, &csvRowError{offset: rowStart, msg: fmt.Sprintf("Missing close double quote (%c) character.", q)}
		default:
			b.WriteByte(c)
			r.pos++
		}
	}
}

func (r *csvReader) atDelimiter() bool {
	return bytes.HasPrefix(r.data[r.pos:], []byte(r.d.delimiter))
}

// endLine consumes one line ending (\n, \r\n or \r).
func (r *csvReader) endLine() {
	if r.data[r.pos] == '\r' {
		r.pos++
		if r.pos < len(r.data) && r.data[r.pos] == '\n' {
			r.pos++
		}
		return
	}
	r.pos++
}

// skipLine resynchronises after a malformed row at the next line.
func (r *csvReader) skipLine() {
	for r.pos < len(r.data) && r.data[r.pos] != '\n' {
		r.pos++
	}
}

// latin1ToUTF8 decodes ISO-8859-1 bytes.
func latin1ToUTF8(b []byte) []byte {
	var out bytes.Buffer
	for _, c := range b {
		out.WriteRune(rune(c))
	}
	return out.Bytes()
}
