package schema

import (
	"fmt"
	"strings"
)

// Encodings a spec may name in input.encoding.
const (
	EncodingUTF8     = "utf-8"
	EncodingShiftJIS = "shift_jis"
)

// DelimiterByte is the field separator byte (default ',').
func (in Input) DelimiterByte() byte {
	if in.Delimiter == "" {
		return ','
	}
	if in.Delimiter == `\t` {
		return '\t'
	}
	return in.Delimiter[0]
}

// QuoteByte is the quote byte (default '"').
func (in Input) QuoteByte() byte {
	if in.Quote == "" {
		return '"'
	}
	return in.Quote[0]
}

// HasHeader reports whether the first record is a header (default true).
func (in Input) HasHeader() bool { return in.Header == nil || *in.Header }

// EncodingName is the canonical encoding: EncodingUTF8 or EncodingShiftJIS
// (cp932, windows-31j and sjis are Shift_JIS); "" for an unknown encoding.
func (in Input) EncodingName() string {
	switch strings.ToLower(strings.ReplaceAll(in.Encoding, "-", "_")) {
	case "", "utf_8", "utf8":
		return EncodingUTF8
	case "shift_jis", "shiftjis", "sjis", "cp932", "windows_31j", "ms932":
		return EncodingShiftJIS
	}
	return ""
}

// FieldLimit is the largest field accepted, in bytes.
func (in Input) FieldLimit() int {
	if in.MaxFieldBytes > 0 {
		return in.MaxFieldBytes
	}
	return DefaultMaxFieldBytes
}

// RecordLimit is the largest record buffered, in bytes.
func (in Input) RecordLimit() int {
	if in.MaxRecordBytes > 0 {
		return in.MaxRecordBytes
	}
	return DefaultMaxRecordBytes
}

// validate reports problems of the input section under path "input".
func (in Input) validate() []Problem {
	var ps []Problem
	enc := in.EncodingName()
	if enc == "" {
		ps = append(ps, Problem{"input.encoding", fmt.Sprintf("unknown encoding %q (want utf-8, shift_jis or cp932)", in.Encoding)})
	}
	d := in.Delimiter
	if d == `\t` {
		d = "\t"
	}
	if len(d) > 1 {
		ps = append(ps, Problem{"input.delimiter", fmt.Sprintf("must be a single byte, got %q", in.Delimiter)})
	}
	if len(in.Quote) > 1 {
		ps = append(ps, Problem{"input.quote", fmt.Sprintf("must be a single byte, got %q", in.Quote)})
	}
	delim, quote := in.DelimiterByte(), in.QuoteByte()
	for _, b := range []struct {
		path string
		c    byte
	}{{"input.delimiter", delim}, {"input.quote", quote}} {
		switch {
		case b.c == '\n' || b.c == '\r' || b.c == 0:
			ps = append(ps, Problem{b.path, fmt.Sprintf("%q cannot separate or quote fields", b.c)})
		case b.c >= 0x80:
			ps = append(ps, Problem{b.path, "must be an ASCII character"})
		case enc == EncodingShiftJIS && b.c >= 0x40:
			// Shift_JIS trail bytes are 0x40-0x7E and 0x80-0xFC, so a byte in
			// that range (| \ ~ ^ @ ...) can be the second half of a kanji.
			ps = append(ps, Problem{b.path, fmt.Sprintf("%q can be the second byte of a Shift_JIS character; use one of , ; tab or a byte below 0x40", b.c)})
		}
	}
	if delim == quote {
		ps = append(ps, Problem{"input.quote", "must differ from the delimiter"})
	}
	if in.MaxFieldBytes < 0 {
		ps = append(ps, Problem{"input.max_field_bytes", "must not be negative"})
	}
	if in.MaxRecordBytes < 0 {
		ps = append(ps, Problem{"input.max_record_bytes", "must not be negative"})
	}
	if in.MaxRecordBytes > 0 && in.MaxRecordBytes < in.FieldLimit() {
		ps = append(ps, Problem{"input.max_record_bytes", "must be at least max_field_bytes"})
	}
	return ps
}
