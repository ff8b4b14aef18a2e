package clean

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
)

// source is the decompressed input of one segment, positioned at a record.
type source struct {
	r      io.Reader
	closer io.Closer
	offset int64 // stream offset of r's first byte
	gzip   bool
}

// openSource opens the object and positions it at cp.Offset (or, for a
// fresh start, after a UTF-8 BOM), recognising gzip by its magic bytes or a
// .gz suffix. Problems with the bytes themselves are *FileErrors.
func (c *Cleaner) openSource(ctx context.Context, open Opener, cp Checkpoint) (*source, error) {
	gz := cp.Gzip
	at := cp.Offset
	if gz {
		at = 0
	}
	rc, err := open(ctx, at)
	if err != nil {
		return nil, fmt.Errorf("open %s at byte %d: %w", c.file, at, err)
	}
	src := &source{closer: rc, offset: cp.Offset, gzip: gz}
	br := bufio.NewReaderSize(rc, 64<<10)
	if cp.Offset == 0 {
		magic, _ := br.Peek(2)
		src.gzip = bytes.Equal(magic, []byte{0x1f, 0x8b}) || strings.HasSuffix(strings.ToLower(c.file), ".gz")
	}
	if !src.gzip {
		src.r = br
		if cp.Offset == 0 {
			err = c.skipPreamble(br, src)
		}
		return src, c.closeOnErr(src, err)
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return src, c.closeOnErr(src, c.gzipError(err, 0))
	}
	zb := bufio.NewReaderSize(zr, 64<<10)
	src.r = zb
	if cp.Offset == 0 {
		return src, c.closeOnErr(src, c.skipPreamble(zb, src))
	}
	if _, err := io.CopyN(io.Discard, zb, cp.Offset); err != nil {
		if err == io.EOF || isGzipError(err) {
			return src, c.closeOnErr(src, c.gzipError(err, cp.Line))
		}
		return src, c.closeOnErr(src, fmt.Errorf("read %s: %w", c.file, err))
	}
	return src, nil
}

func (c *Cleaner) closeOnErr(src *source, err error) error {
	if err != nil {
		src.closer.Close()
	}
	return err
}

// skipPreamble skips a UTF-8 BOM and refuses UTF-16 and ZIP (xlsx) data.
func (c *Cleaner) skipPreamble(br *bufio.Reader, src *source) error {
	head, err := br.Peek(4)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		if src.gzip {
			return c.gzipError(err, 0)
		}
		return fmt.Errorf("read %s: %w", c.file, err)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
		src.offset = 3
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return &FileError{File: c.file, Line: 1, Reason: "file is UTF-16; save it as UTF-8 or Shift_JIS"}
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return &FileError{File: c.file, Line: 1, Reason: "file is a ZIP archive (an Excel .xlsx?), not CSV"}
	}
	return nil
}

// gzipError turns a decompression failure into a *FileError.
func (c *Cleaner) gzipError(err error, line int64) error {
	reason := "corrupt gzip data: " + err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		reason = "truncated gzip stream"
	}
	return &FileError{File: c.file, Line: line, Reason: reason}
}

// textDecoder turns field bytes into UTF-8.
type textDecoder struct {
	sjis *encoding.Decoder // nil for UTF-8 input
	buf  []byte
}

func newTextDecoder(sjis bool) *textDecoder {
	if !sjis {
		return &textDecoder{}
	}
	return &textDecoder{sjis: japanese.ShiftJIS.NewDecoder()}
}

// field returns v as UTF-8; ok is false for bytes invalid in the encoding.
// The result may alias v or the decoder's buffer (valid until the next call).
func (d *textDecoder) field(v []byte) ([]byte, bool) {
	if d.sjis == nil || isASCII(v) {
		return v, true
	}
	if need := 3 * len(v); cap(d.buf) < need {
		d.buf = make([]byte, need)
	}
	d.sjis.Reset()
	n, _, err := d.sjis.Transform(d.buf[:cap(d.buf)], v, true)
	out := d.buf[:n]
	return out, err == nil && bytes.IndexRune(out, utf8.RuneError) < 0
}

// record returns a record's text as valid UTF-8 for a reject line, replacing bad bytes.
func (d *textDecoder) record(raw []byte) []byte {
	if d.sjis != nil {
		out, _ := d.field(raw)
		return append([]byte(nil), out...)
	}
	if utf8.Valid(raw) {
		return raw
	}
	return bytes.ToValidUTF8(raw, []byte("\uFFFD"))
}

// isASCII reports whether b has only 7-bit bytes.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if (uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16|uint64(b[3])<<24|
			uint64(b[4])<<32|uint64(b[5])<<40|uint64(b[6])<<48|uint64(b[7])<<56)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
