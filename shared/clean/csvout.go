package clean

import (
	"fmt"
	"io"
	"strconv"
)

// flushAt is the buffered output size at which a writer flushes.
const flushAt = 256 << 10

// csvWriter buffers CSV lines for one output, appending in place.
type csvWriter struct {
	w    io.Writer
	name string // "clean output" or "rejects", for errors
	buf  []byte
}

// flushIfFull writes the buffer once it is large.
func (w *csvWriter) flushIfFull() error {
	if len(w.buf) < flushAt {
		return nil
	}
	return w.flush()
}

func (w *csvWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("write %s: %w", w.name, err)
	}
	return nil
}

// needsQuote reports whether a field must be quoted in comma-separated output.
func needsQuote(v []byte) bool {
	for _, c := range v {
		// All four special bytes are below '-', most text bytes are not.
		if c < '-' && (c == ',' || c == '"' || c == '\n' || c == '\r') {
			return true
		}
	}
	return false
}

// appendField appends v as one CSV field, quoted only when needed.
func appendField(dst, v []byte) []byte {
	if !needsQuote(v) {
		return append(dst, v...)
	}
	return appendQuoted(dst, v)
}

func appendQuoted(dst, v []byte) []byte {
	dst = append(dst, '"')
	for _, c := range v {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// AppendRecord appends one line of a clean part: every non-empty field in
// double quotes, an empty one (NULL) empty, "\n" at the end — the form the
// cleaner writes (see the package comment), for other writers of clean parts.
func AppendRecord(dst []byte, fields []string) []byte {
	for i, f := range fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		if f != "" {
			dst = appendQuoted(dst, []byte(f))
		}
	}
	return append(dst, '\n')
}

// requote rewrites the field dst[start:] in quoted form, using tmp as scratch.
func requote(dst []byte, start int, tmp *[]byte) []byte {
	*tmp = append((*tmp)[:0], dst[start:]...)
	return appendQuoted(dst[:start], *tmp)
}

// appendReject appends one line of the rejects CSV.
func appendReject(dst []byte, line int64, column, reason string, record []byte) []byte {
	dst = strconv.AppendInt(dst, line, 10)
	dst = append(dst, ',')
	dst = appendField(dst, []byte(column))
	dst = append(dst, ',')
	dst = appendField(dst, []byte(reason))
	dst = append(dst, ',')
	dst = appendField(dst, record)
	return append(dst, '\n')
}
