package clean

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/dropcast/dropcast/shared/schema"
)

// problem is one reason a row is rejected.
type problem struct {
	column string
	reason string
}

// rowCleaner is the per-segment state that cleans one record at a time.
type rowCleaner struct {
	c     *Cleaner
	sc    *scanner
	m     *mapping
	dec   *textDecoder
	out   csvWriter
	rej   csvWriter
	qtmp  []byte
	probs []problem
}

// row cleans the scanner's current record into the clean output or the
// rejects; it reports whether the row was clean.
func (rc *rowCleaner) row() bool {
	c, sc := rc.c, rc.sc
	rc.probs = rc.probs[:0]
	switch {
	case sc.unterminated:
		rc.fail("", reasonUnterminated)
	case sc.oversize:
		rc.fail("", fmt.Sprintf("record is longer than %d bytes (input.max_record_bytes)", c.maxRecord))
	case len(sc.fields) != rc.m.nsrc:
		rc.fail("", fmt.Sprintf("row has %d fields, expected %d", len(sc.fields), rc.m.nsrc))
	case bytes.IndexByte(sc.raw, 0) >= 0:
		rc.fail("", "row has a NUL byte (binary data?)")
	case rc.dec.sjis == nil && !utf8.Valid(sc.raw):
		rc.fail("", "row is not valid UTF-8 (if the file is Shift_JIS, set input.encoding: shift_jis)")
	case sc.malformed >= 0:
		rc.fail(rc.m.column(c, sc.malformed), "text after the closing quote of a quoted field")
	}
	if len(rc.probs) == 0 && rc.values() {
		return true
	}
	rec := rc.dec.record(sc.raw)
	if sc.oversize {
		rec = append(rec[:len(rec):len(rec)], "…"...)
	}
	for _, p := range rc.probs {
		rc.rej.buf = appendReject(rc.rej.buf, sc.line, p.column, p.reason, rec)
	}
	return false
}

// values appends the record's clean line, or records problems and appends nothing.
func (rc *rowCleaner) values() bool {
	c, sc := rc.c, rc.sc
	buf := rc.out.buf
	start := len(buf)
	for i, r := range c.rules {
		if i > 0 {
			buf = append(buf, ',')
		}
		src := rc.m.src[i]
		if src < 0 {
			vs := len(buf)
			if buf = r.Missing(buf); len(buf) > vs {
				buf = requote(buf, vs, &rc.qtmp)
			}
			continue
		}
		v := sc.fields[src]
		if len(v) > c.maxField {
			rc.fail(c.names[i], fmt.Sprintf("value is longer than %d bytes (input.max_field_bytes)", c.maxField))
			continue
		}
		v, ok := rc.dec.field(v)
		if !ok {
			rc.fail(c.names[i], "value has bytes that are not valid Shift_JIS")
			continue
		}
		vs := len(buf)
		var err error
		if buf, err = r.Apply(buf, v); err != nil {
			if schema.ErrMissing(err) {
				rc.fail(c.names[i], fmt.Sprintf("%s: %v", c.schema.Columns[i].Type, err))
			} else {
				rc.fail(c.names[i], err.Error())
			}
			continue
		}
		if len(buf) > vs {
			buf = requote(buf, vs, &rc.qtmp) // every non-empty value quoted; NULL stays empty
		}
	}
	if len(rc.probs) > 0 {
		rc.out.buf = buf[:start]
		return false
	}
	buf = append(buf, ',', '"')
	buf = strconv.AppendInt(buf, sc.line, 10)
	rc.out.buf = append(buf, '"', '\n')
	return true
}

func (rc *rowCleaner) fail(column, reason string) {
	rc.probs = append(rc.probs, problem{column, reason})
}
